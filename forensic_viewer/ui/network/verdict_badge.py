"""The verdict badge floating on the ELA view: empty until a network result fills it.

States (the network issue drives them):
- ``clear()``: hidden. Nothing is shown that could be mistaken for a verdict.
- ``set_running(text)``: a spinner and "Analysing..." (or "Loading model...").
- ``set_result(verdict, details)``: the state in words ("Tampered", "No trace found",
  "Inconclusive"), coloured, with the numbers under it in small type ("P(tampered) 0.47 ≥
  threshold 0.42 · model X", or the reason of an inconclusive verdict); the tooltip gives the
  reason, what the numbers mean, and the card summary (``details``). Never a percentage: a
  P(tampered) of 0.47 above a threshold of 0.42 must not read as "47% sure it is tampered".
- ``set_no_model(message)``: the message with Train... and Load model... buttons.
- ``set_unavailable(message)``: no verdict for this image (e.g. it could not be analysed).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..viewer.document import Verdict, verdict_numbers, verdict_text

SPINNER_FRAMES = "◐◓◑◒"
COLOURS = {
    "tampered": "#ff6b5a",
    "no_trace": "#8fb8e8",  # a calm blue, not a reassuring green: no trace is not authentic
    "inconclusive": "#e0b050",
    "neutral": "#e0e0e0",
}
MEANING = {
    "tampered": "The model's P(tampered) reached the threshold chosen on its validation data.",
    "no_trace": "No trace of tampering found by this model. This is an absence of evidence, "
    "not proof that the image is authentic.",
    "inconclusive": "No verdict: the evidence this method needs is missing, or the image is "
    "outside what the model was validated on.",
}
NUMBERS_HELP = (
    "P(tampered) is the model's calibrated probability (temperature-scaled on its validation "
    "split); the threshold was chosen there for the best balanced accuracy, so a P below 0.5 "
    "can be flagged. Neither is a confidence percentage in the label."
)
MARGIN = 10


class VerdictBadge(QFrame):
    trainRequested = Signal()
    loadModelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("VerdictBadge")
        self.setStyleSheet(
            "#VerdictBadge { background: rgba(20, 20, 20, 215); border: 1px solid #555;"
            " border-radius: 6px; }"
            "#VerdictBadge QLabel { color: #e0e0e0; background: transparent; }"
            "#VerdictBadge QPushButton { padding: 2px 8px; }"
        )
        self.spinner = QLabel()
        self.text = QLabel()
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.numbers = QLabel()
        self.numbers.setTextFormat(Qt.TextFormat.PlainText)
        self.numbers.setStyleSheet("color: #c8c8c8; font-size: 9pt;")
        self.train_button = QPushButton("Train...")
        self.train_button.setToolTip("Train a model on your own labelled folders")
        self.load_button = QPushButton("Load model...")
        self.load_button.setToolTip("Choose a model file (.safetensors; its card is inside)")
        self.train_button.clicked.connect(self.trainRequested)
        self.load_button.clicked.connect(self.loadModelRequested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.setSpacing(6)
        texts = QVBoxLayout()
        texts.setSpacing(0)
        texts.addWidget(self.text)
        texts.addWidget(self.numbers)
        layout.addWidget(self.spinner)
        layout.addLayout(texts)
        for widget in (self.train_button, self.load_button):
            layout.addWidget(widget)
        self._frame = 0
        self._timer = QTimer(self)
        self._timer.setInterval(120)
        self._timer.timeout.connect(self._spin)
        self.state = "clear"
        self.verdict: Verdict | None = None
        self._watched: QObject | None = None
        self.clear()

    # ---- public API --------------------------------------------------------------------------
    def clear(self) -> None:
        self._set_state("clear")
        self.verdict = None
        self.text.clear()
        self.setToolTip("")
        self.hide()

    def set_running(self, text: str = "Analysing...") -> None:
        self._set_state("running")
        self._style_text(COLOURS["neutral"], bold=False)
        self.text.setText(text)
        self.setToolTip("The network is computing a verdict for this image")
        self._show()

    def set_result(self, verdict: Verdict, details: str = "") -> None:
        """The verdict's state in words and colour, its numbers (or reason) in small type."""
        self._set_state("result")
        self.verdict = verdict
        self._style_text(COLOURS.get(verdict.state, COLOURS["neutral"]), bold=True)
        self.text.setText(verdict_text(verdict))
        numbers = verdict_numbers(verdict)
        if numbers:
            self.numbers.setText(f"{numbers} · model {verdict.model_name}")
        else:
            self.numbers.setText(_short_reason(verdict.reason))
        self.numbers.show()
        lines = [f"Model: {verdict.model_name}", MEANING.get(verdict.state, "")]
        if verdict.reason:
            lines.append(f"Why: {verdict.reason}")
        if numbers:
            lines += [f"{numbers}.", NUMBERS_HELP]
        if details:
            lines += [line for line in details.splitlines() if line != lines[0]]
        lines.append(
            "A network's estimate, not proof: weigh it with the ELA, the metadata and the heatmap."
        )
        self.setToolTip("\n".join(line for line in lines if line))
        self._show()

    def set_no_model(self, message: str) -> None:
        self._set_state("no_model")
        self._style_text(COLOURS["neutral"], bold=False)
        self.text.setText(message)
        self.setToolTip(
            "No verdict: no usable model is loaded.\nTrain... builds one from your labelled "
            "folders; Load model... opens a .safetensors model file (its card is inside)."
        )
        self._show()

    def set_unavailable(self, message: str) -> None:
        self._set_state("unavailable")
        self._style_text(COLOURS["neutral"], bold=False)
        self.text.setText(message)
        self.setToolTip(message)
        self._show()

    # ---- internals ---------------------------------------------------------------------------
    def _set_state(self, state: str) -> None:
        self.state = state
        if state != "result":
            self.numbers.clear()
            self.numbers.hide()
        running = state == "running"
        self.spinner.setVisible(running)
        if running:
            self._timer.start()
            self._spin()
        else:
            self._timer.stop()
        no_model = state == "no_model"
        self.train_button.setVisible(no_model)
        self.load_button.setVisible(no_model)

    def _style_text(self, colour: str, bold: bool) -> None:
        # a result is meant to be read at a glance; states and explanations stay small
        weight, size = ("bold", "13pt") if bold else ("normal", "10pt")
        self.text.setStyleSheet(f"color: {colour}; font-weight: {weight}; font-size: {size};")

    def _spin(self) -> None:
        self.spinner.setText(SPINNER_FRAMES[self._frame % len(SPINNER_FRAMES)])
        self._frame += 1

    def _show(self) -> None:
        self.adjustSize()
        self.show()
        self.raise_()
        self.reposition()

    def reposition(self) -> None:
        """Keep to the top-right corner of the parent (called on parent resize)."""
        parent = self.parentWidget()
        if parent is None:
            return
        if self._watched is not parent:
            if self._watched is not None:
                self._watched.removeEventFilter(self)
            parent.installEventFilter(self)
            self._watched = parent
        self._fit(max(160, parent.width() - 2 * MARGIN))
        self.move(max(0, parent.width() - self.width() - MARGIN), MARGIN)
        if self.isVisible():
            self.raise_()

    def _fit(self, available: int) -> None:
        """One line of numbers where it fits; in a narrow pane (a 1280 px screen side by side)
        the numbers wrap inside the pane instead of running past its edge."""
        self.numbers.setWordWrap(False)
        self.setMinimumWidth(0)
        self.setMaximumWidth(16777215)
        self.adjustSize()
        if self.width() > available:
            self.numbers.setWordWrap(True)
            self.setFixedWidth(available)
            self.adjustSize()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._watched and event.type() == QEvent.Type.Resize:
            self.reposition()
        return False


def _short_reason(reason: str, limit: int = 60) -> str:
    """The reason's first clause for the badge's small line ('not a JPEG (PNG)', 'outside what
    model default was validated on'); the tooltip has the whole sentence."""
    head = reason.split(":", 1)[0].split(" (", 1)[0] if reason.startswith("outside") else reason
    head = head.split(":", 1)[0]
    return head if len(head) <= limit else head[: limit - 1] + "…"
