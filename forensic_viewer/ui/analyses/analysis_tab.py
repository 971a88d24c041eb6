"""One generic tab for any registered analysis: parameters, the original beside the result (zoom and
pan linked), mask and match lines, extra images, score, findings, 'how to read this', the data.

Runs only while visible (six analyses on every image change would swamp two cores), in a worker
with progress and Cancel; a parameter edit re-runs after a short pause (debounced); results of an
older image or older parameters are dropped by the generation counter.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTreeWidget,
    QVBoxLayout,
    QWidget,
)

from forensic_viewer.core.analyses import Analysis, AnalysisCancelled
from forensic_viewer.core.images import LoadedImage

from ..viewer.image_views import ZOOM_STEP, ImagePane, ViewLinker
from ..workers import GenerationCounter, Worker, WorkerPool
from .analysis_jobs import (
    AnalysisFrame,
    display,
    load_params,
    run_frame,
    save_params,
    stored_position,
    value_text,
)
from .param_form import ParamForm
from .result_text import add_items, findings_html

DEBOUNCE_MS = 400
SIDE_WIDTH = 300
MAX_TREE_ITEMS = 3000
"""A metadata tree can hold thousands of tags; past this many rows the rest is summarised."""


class AnalysisTab(QWidget):
    frameShown = Signal(object)  # AnalysisFrame
    hovered = Signal(float, float)
    zoomChanged = Signal(float)

    def __init__(
        self, analysis: Analysis, pool: WorkerPool, store=None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.analysis = analysis
        self.pool = pool
        self.store = store  # QSettings, or None (nothing remembered)
        self.generation = GenerationCounter()
        self.frame: AnalysisFrame | None = None
        self.reason: str | None = None  # why the analysis does not apply to this image
        self._doc_id: int | None = None
        self._image: LoadedImage | None = None
        self._size: tuple[int, int] | None = None
        self._original_shown = False
        self._shown_key: tuple | None = None
        self._wanted: tuple | None = None
        self._stopped_key: tuple | None = None  # cancelled or failed: not re-run by itself
        self._worker: Worker | None = None
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self.refresh)
        self._build()
        if store is not None:
            self.form.set_values(load_params(store, analysis))

    # ---- widgets -------------------------------------------------------------------------------
    def _build(self) -> None:
        self.original = ImagePane("Original")
        self.result_pane = ImagePane(self.analysis.title)
        self.linker = ViewLinker([self.original, self.result_pane])
        for pane in (self.original, self.result_pane):
            pane.hovered.connect(self.hovered)
        self.original.zoomChanged.connect(self.zoomChanged)
        # extra images (a thumbnail, a difference) stacked in a column the user can resize
        self.extras_box = QSplitter(Qt.Orientation.Vertical)
        self.extras_box.setChildrenCollapsible(False)
        self.extras_box.setVisible(False)
        self.extra_panes: dict[str, ImagePane] = {}
        self.views = QSplitter(Qt.Orientation.Horizontal)
        self.views.setChildrenCollapsible(False)
        for widget in (self.original, self.result_pane, self.extras_box):
            self.views.addWidget(widget)
        self.views.setStretchFactor(0, 2)
        self.views.setStretchFactor(1, 2)
        self.views.setStretchFactor(2, 1)

        side = QWidget()
        column = QVBoxLayout(side)
        column.setContentsMargins(6, 4, 6, 4)
        self.form = ParamForm(self.analysis.params)
        self.form.changed.connect(self._on_params_changed)
        column.addWidget(self.form)
        self.overlay_box = QCheckBox("Show regions and match lines")
        self.overlay_box.setChecked(True)
        self.overlay_box.setToolTip("Draw the mask (tinted, outlined) and the match lines")
        self.overlay_box.setVisible(False)
        self.overlay_box.toggled.connect(self._show_picture)
        column.addWidget(self.overlay_box)
        buttons = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setTextVisible(True)
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Compute again with these parameters")
        self.run_button.clicked.connect(lambda: self.refresh(force=True))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the computation (the last result is kept)")
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        column.addLayout(buttons)
        self.status = self._label()
        self.score = self._label()
        self.score.setStyleSheet("font-weight: bold;")
        self.findings = self._label()
        self.findings.setTextFormat(Qt.TextFormat.RichText)
        column.addWidget(self.status)
        column.addWidget(self.score)
        column.addWidget(self.findings)
        help_title = QLabel("<b>How to read this</b>")
        self.help = self._label(self.analysis.help)
        self.help.setFrameShape(QFrame.Shape.StyledPanel)
        self.help.setStyleSheet("padding: 4px;")
        column.addWidget(help_title)
        column.addWidget(self.help)
        self.data_tree = QTreeWidget()
        self.data_tree.setHeaderLabels(["Data", "Value"])
        self.data_tree.setMinimumHeight(160)
        self.data_tree.setToolTip("The numbers of the result, as written to the JSON report")
        column.addWidget(self.data_tree, 1)
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(220)
        scroll.setMaximumWidth(SIDE_WIDTH + 30)

        outer = QSplitter(Qt.Orientation.Horizontal)
        outer.addWidget(self.views)
        outer.addWidget(scroll)
        outer.setStretchFactor(0, 1)
        outer.setChildrenCollapsible(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(outer)
        self._set_busy(False)

    @staticmethod
    def _label(text: str = "") -> QLabel:
        label = QLabel(text)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        return label

    # ---- inputs --------------------------------------------------------------------------------
    def set_document(self, doc_id: int | None, image: LoadedImage | None) -> None:
        """The image to analyse (stored grid, as loaded); computing starts when the tab shows."""
        if (
            doc_id == self._doc_id
            and image is not None
            and self._image is not None
            and image.facts.sha256 == self._image.facts.sha256
        ):
            return
        self._doc_id, self._image = doc_id, image
        self._original_shown = False
        self._stopped_key = None
        self.frame = None
        self._clear_result()
        if image is None:
            self._size = None
            self.original.set_image(None)
        else:
            height, width = image.facts.height, image.pixels.shape[1]
            rotated = image.facts.orientation in (5, 6, 7, 8)
            self._size = (height, width) if rotated else (width, height)
        self.refresh()

    def params(self) -> dict[str, Any]:
        return self.form.values()

    def set_params(self, values: dict[str, Any]) -> None:
        """Set parameters (as the form would) and re-run after the debounce pause."""
        self.form.set_values(values)
        self._on_params_changed(self.form.values())

    def _on_params_changed(self, values: dict[str, Any]) -> None:
        if self.store is not None:
            save_params(self.store, self.analysis, values)
        self._stopped_key = None
        self._debounce.start()

    # ---- state ---------------------------------------------------------------------------------
    def _key(self) -> tuple | None:
        if self._image is None:
            return None
        return (self._doc_id, tuple(sorted(self.params().items())))

    def is_busy(self) -> bool:
        return self._worker is not None and not self._worker.is_done

    def is_complete(self) -> bool:
        """The shown result (or the 'does not apply' reason) is for this image and parameters."""
        key = self._key()
        return key is None or (
            self._shown_key == key and not self.is_busy() and not self._debounce.isActive()
        )

    # ---- computing -----------------------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Start computing if visible and the image or parameters changed (or ``force``)."""
        self._debounce.stop()
        key = self._key()
        if key is None:
            self._stop_worker()
            self._clear_result()
            self.status.setText("")
            return
        if not self.isVisible():
            if key != self._shown_key:
                self._stop_worker()  # outdated: stop now, compute when the tab is shown
            return
        self._show_original()
        if not force and (key in (self._shown_key, self._wanted) or key == self._stopped_key):
            return
        try:
            reason = self.analysis.applies_to(self._image)
        except Exception as exc:  # noqa: BLE001 - a broken analysis must not break the window
            reason = f"could not check ({type(exc).__name__}: {exc})"
        if reason is not None:
            self._stop_worker()
            self._clear_result()
            self._shown_key, self.reason = key, reason
            self.status.setText(f"Does not apply to this image: {self.reason}")
            self.result_pane.header.setText(f"{self.analysis.title}   (does not apply)")
            return
        self._start(key)

    def _start(self, key: tuple) -> None:
        self._stop_worker()
        self.reason = None
        generation = self.generation.bump()
        self._wanted, self._stopped_key = key, None
        analysis, doc_id, image, params = self.analysis, self._doc_id, self._image, self.params()
        worker: Worker | None = None
        last = [-1]

        def progress(fraction: float) -> None:  # called on the worker thread
            percent = int(max(0.0, min(1.0, fraction)) * 100)
            if percent != last[0]:
                last[0] = percent
                worker.signals.yielded.emit(percent)

        def job() -> AnalysisFrame:
            return run_frame(
                analysis, doc_id, image, params, progress, lambda: worker.abort_requested
            )

        worker = Worker(job)
        worker.yielded.connect(lambda p, g=generation: self._on_progress(p, g))
        worker.returned.connect(lambda f, g=generation, k=key: self._on_frame(f, g, k))
        worker.errored.connect(lambda e, g=generation, k=key: self._on_error(e, g, k))
        worker.aborted.connect(lambda g=generation, k=key: self._on_error(None, g, k))
        worker.finished.connect(lambda g=generation: self._on_finished(g))
        self.progress.setValue(0)
        self.status.setText("Computing...")
        self.result_pane.header.setText(f"{self.analysis.title}   computing...")
        self._set_busy(True)
        self._worker = self.pool.start(worker, generation)

    def cancel(self) -> None:
        """Stop the running computation (it raises AnalysisCancelled at its next check)."""
        if self._worker is not None and not self._worker.is_done:
            self._worker.quit()
            self.status.setText("Cancelling...")

    def _stop_worker(self) -> None:
        self.generation.bump()
        self._wanted = None
        if self._worker is not None:
            self._worker.quit()
        self._set_busy(False)

    def _on_progress(self, percent: int, generation: int) -> None:
        if generation == self.generation.value:
            self.progress.setValue(percent)

    def _on_frame(self, frame: AnalysisFrame, generation: int, key: tuple) -> None:
        if not self.generation.accept(generation):
            return
        self.frame, self._shown_key, self._wanted = frame, key, None
        self._show_frame(frame)
        self.frameShown.emit(frame)

    def _on_error(self, exc: Exception | None, generation: int, key: tuple) -> None:
        if not self.generation.accept(generation):
            return
        self._wanted, self._stopped_key = None, key
        if exc is None or isinstance(exc, AnalysisCancelled):
            self.status.setText("Cancelled. Press Run to compute again.")
        else:
            self.status.setText(f"Failed: {exc}")
        self.result_pane.header.setText(f"{self.analysis.title}   (not computed)")

    def _on_finished(self, generation: int) -> None:
        if generation == self.generation.value:
            self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)
        self.run_button.setEnabled(not busy)
        self.progress.setVisible(busy)

    # ---- showing -------------------------------------------------------------------------------
    def _show_original(self) -> None:
        if self._original_shown or self._image is None:
            return
        facts = self._image.facts
        self.original.set_image(display(self._image.pixels, facts.height, facts.orientation))
        self._original_shown = True

    def _clear_result(self) -> None:
        self.frame, self._shown_key, self.reason = None, None, None
        self.result_pane.set_image(None)
        self.result_pane.header.setText(self.analysis.title)
        self.overlay_box.setVisible(False)
        self.score.setText("")
        self.findings.setText("")
        self.data_tree.clear()
        self._set_extras({})

    def _show_frame(self, frame: AnalysisFrame) -> None:
        result = frame.result
        self.overlay_box.setVisible(frame.plain is not None)
        self._show_picture()
        score = "" if result.score is None else f"   score {result.score:g}"
        none = "   (no map for this image)" if frame.picture is None else ""
        self.result_pane.header.setText(f"{self.analysis.title}{score}{none}")
        self.status.setText(f"Computed in {frame.seconds * 1000:.0f} ms")
        meaning = result.data.get("score_meaning") if isinstance(result.data, dict) else None
        self.score.setText(
            ""
            if result.score is None
            else f"Score {result.score:g}" + (f": {meaning}" if meaning else "")
        )
        self.findings.setText(findings_html(result.findings))
        self._fill_tree(frame.report())
        self._set_extras(frame.extras)

    def _show_picture(self) -> None:
        frame = self.frame
        if frame is None:
            return
        plain = frame.plain is not None and not self.overlay_box.isChecked()
        self.result_pane.set_image(frame.plain if plain else frame.picture, size=self._size)

    def _set_extras(self, extras: dict[str, np.ndarray]) -> None:
        for name in list(self.extra_panes):
            if name not in extras:
                pane = self.extra_panes.pop(name)
                pane.setParent(None)
                pane.deleteLater()
        for name, array in extras.items():
            pane = self.extra_panes.get(name)
            if pane is None:
                pane = ImagePane(name)
                self.extra_panes[name] = pane
                self.extras_box.addWidget(pane)
            pane.header.setText(f"{name}   {array.shape[1]} x {array.shape[0]}")
            pane.image_size = None  # a new picture fits its pane
            pane.set_image(array)
        self.extras_box.setVisible(bool(extras))

    def _fill_tree(self, report: dict) -> None:
        self.data_tree.clear()
        budget = [MAX_TREE_ITEMS]
        add_items(self.data_tree.invisibleRootItem(), report, budget)
        # the analysis's own numbers (e.g. the metadata tree) open; the rest is shown above
        root = self.data_tree.invisibleRootItem()
        for index in range(root.childCount()):
            item = root.child(index)
            if item.text(0) == "data":
                item.setExpanded(True)
        self.data_tree.resizeColumnToContents(0)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.refresh()

    def value_at(self, x: float, y: float) -> str | None:
        """The result under display position (x, y), for the status bar (None: nothing there)."""
        if self.frame is None or self._image is None or not (x == x and y == y):  # NaN: outside
            return None
        facts = self._image.facts
        width = self._image.pixels.shape[1]
        col, row = stored_position(int(x // 1), int(y // 1), facts.orientation, width, facts.height)
        if not (0 <= col < width and 0 <= row < self._image.pixels.shape[0]):
            return None  # outside, or a cut-off file's missing rows
        text = value_text(self.frame.result, col, row)
        return None if text is None else f"{self.analysis.title}: {text}"

    # ---- zoom (the result follows the original through the linker) -----------------------------
    def zoom(self) -> float:
        return self.original.zoom()

    def fit(self) -> None:
        self.original.fit()

    def actual_size(self) -> None:
        self.original.set_zoom(1.0)

    def zoom_in(self) -> None:
        self.original.zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        self.original.zoom_by(1 / ZOOM_STEP)
