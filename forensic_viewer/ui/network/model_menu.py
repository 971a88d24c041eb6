"""The Model menu: choose a model, read its card, load a model file, train a new one.

Models are listed from the bundled folder and the user's model folder (``model_catalog``, no
torch), plus a file loaded by hand. The training wizard is another module, imported only when
asked for (it brings the trainer with it).
"""

from __future__ import annotations

import importlib
import json
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QTextOption
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QMessageBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ..network import model_catalog
from ..network.model_catalog import CardText
from ..viewer.document import printable

if TYPE_CHECKING:
    from ..viewer.main_window import MainWindow

MODEL_FILTER = "Model files (*.safetensors *.json);;All files (*)"
WIZARD_MODULE = "forensic_viewer.ui.training.wizard"
METRIC_ROWS = (
    ("accuracy", "Accuracy", "{:.1%}"),
    ("balanced_accuracy", "Balanced accuracy", "{:.1%}"),
    ("roc_auc", "ROC AUC", "{:.3f}"),
    ("tampered_detected", "Tampered detected (recall)", "{:.1%}"),
    ("authentic_flagged", "Authentic flagged (false alarms)", "{:.1%}"),
    ("ece", "Calibration error (ECE)", "{:.3f}"),
    ("count", "Validation images", "{}"),
    ("threshold", "At threshold", "{:.3f}"),
)


def _number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "not recorded"
    return f"{value:.3f}"


def _rows(rows: list[tuple[str, str]]) -> str:
    cells = "".join(
        f"<tr><td style='padding-right:12px'><b>{escape(k)}</b></td><td>{v}</td></tr>"
        for k, v in rows
    )
    return f"<table>{cells}</table>"


def card_html(card: CardText, weights: Path | None = None) -> str:
    """The model card as a page: identity, recipe, metrics, training data, how to reproduce."""
    data = card.data
    identity = [
        ("Name", escape(card.name)),
        (
            "Architecture",
            escape(f"{data.get('architecture', '?')} v{data.get('architecture_version', '?')}"),
        ),
        ("Created", escape(str(data.get("created") or "unknown"))),
        ("Classes", escape(", ".join(map(str, data.get("class_names") or [])))),
        ("Threshold", _number(data.get("threshold")) + " on P(tampered)"),
        ("Temperature", _number(data.get("temperature"))),
        ("Weights SHA-256", f"<code>{escape(card.weights_sha256 or 'not recorded')}</code>"),
    ]
    if weights is not None:
        identity.append(("File", escape(printable(str(weights)))))
    recipe = [(str(k), escape(json.dumps(v))) for k, v in card.recipe.items()]
    validation = card.validation()
    metrics = []
    for key, label, fmt in METRIC_ROWS:
        value = validation.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            metrics.append((label, escape(fmt.format(value))))
    matrix = validation.get("confusion_matrix")
    if isinstance(matrix, list) and len(matrix) == 2:
        confusion = escape(f"authentic {matrix[0]}, tampered {matrix[1]}")
        legend = " <i>(true class: predicted [authentic, tampered])</i>"
        metrics.append(("Confusion matrix", confusion + legend))
    parts = [
        f"<h2>{escape(card.name)}</h2>",
        f"<p>{escape(card.describe_recipe())}.<br>{escape(card.describe_training())}; "
        f"{escape(card.describe_metrics())}.</p>",
        "<p><i>A verdict is evidence to weigh, not proof. Validation numbers hold for images "
        "like the training data.</i></p>",
        "<h3>Model</h3>",
        _rows(identity),
        "<h3>Validation metrics</h3>",
        _rows(metrics) if metrics else "<p>No validation metrics recorded.</p>",
        "<h3>Input recipe</h3>",
        _rows(recipe) if recipe else "<p>Not recorded.</p>",
    ]
    training = data.get("training")
    if not isinstance(training, dict) or not training:
        parts += ["<h3>Training data</h3>", "<p>Not recorded.</p>"]
    else:
        dataset = training.get("dataset") if isinstance(training.get("dataset"), dict) else {}
        split = training.get("split") if isinstance(training.get("split"), dict) else {}
        rows = [
            ("Dataset", escape(printable(str(dataset.get("root", "?"))))),
            ("Images", escape(json.dumps(dataset.get("counts", {})))),
            ("Split", escape(str(split.get("method", "?")))),
            ("Train / validation", escape(f"{split.get('train', '?')} / {split.get('val', '?')}")),
        ]
        warnings = dataset.get("warnings") or []
        if warnings:
            rows.append(("Warnings", "<br>".join(escape(str(w)) for w in warnings)))
        parts += ["<h3>Training data</h3>", _rows(rows)]
    reproduce = str(data.get("reproduce") or "").strip()
    parts += [
        "<h3>Reproduce</h3>",
        # wrapped: a one-line command made the whole card scroll sideways
        f"<pre style='white-space: pre-wrap'>{escape(reproduce)}</pre>"
        if reproduce
        else "<p>Not recorded.</p>",
    ]
    notes = str(data.get("notes") or "").strip()
    if notes:
        parts += ["<h3>Notes</h3>", f"<p>{escape(notes)}</p>"]
    return "\n".join(parts)


class ModelCardDialog(QDialog):
    def __init__(self, card: CardText, weights: Path | None, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Model card - {card.name}")
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        # long paths and hashes break anywhere rather than widen the page (no sideways scrolling)
        self.browser.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.browser.setHtml(card_html(card, weights))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.resize(640, 720)


class ModelMenu:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.menu = window.insert_menu("&Model")
        self.group = QActionGroup(window)
        self.group.setExclusive(True)
        self.model_actions: list[QAction] = []
        self.extra_models: list[Path] = []
        """Model files loaded by hand this session, listed with the catalogue's."""
        self.no_models = QAction("(no models found)", window)
        self.no_models.setEnabled(False)
        self.separator = self.menu.addSeparator()
        self.show_card = self._add("Show Model &Card...", self.show_model_card, None)
        self.load_file = self._add("&Load Model File...", self.load_model_file, None)
        self.train = self._add("&Train New Model...", self.open_training_wizard, None)
        self.menu.addSeparator()
        self.heatmap = self._add(
            "&Heatmap over Original", lambda: window.set_heatmap(self.heatmap.isChecked()), "H"
        )
        self.heatmap.setCheckable(True)
        self.sort = self._add(
            "&Sort Images by P(tampered)", lambda: window.set_sort(self.sort.isChecked()), None
        )
        self.sort.setCheckable(True)
        self.wizard: QWidget | None = None
        self.last_notice: QMessageBox | None = None
        self.menu.aboutToShow.connect(self.rebuild)
        self.rebuild()

    def _add(self, text: str, slot, shortcut: str | None) -> QAction:
        action = QAction(text, self.window)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda _checked=False: slot())
        self.menu.addAction(action)
        return action

    # ---- the list of models ----------------------------------------------------------------
    def models(self) -> list[Path]:
        active = self.window.verdicts.model_path
        extra = [*self.extra_models, *([active] if active is not None else [])]
        return model_catalog.find_models(extra)

    def rebuild(self) -> None:
        for action in self.model_actions:
            self.menu.removeAction(action)
            self.group.removeAction(action)
        self.menu.removeAction(self.no_models)
        self.model_actions = []
        active = self.window.verdicts.model_path
        for path in self.models():
            try:
                card = CardText.read(path)
                name, tip = card.name, card.summary()
            except ValueError as error:
                name, tip = path.stem, str(error)
            action = QAction(f"{name}   ({model_catalog.origin(path)})", self.window)
            action.setCheckable(True)
            action.setChecked(active is not None and path.resolve() == active.resolve())
            action.setToolTip(f"{tip}\n{printable(str(path))}")
            action.setStatusTip(printable(str(path)))
            action.setData(str(path))
            action.triggered.connect(lambda _c=False, p=path: self.window.choose_model(p))
            self.group.addAction(action)
            self.menu.insertAction(self.separator, action)
            self.model_actions.append(action)
        if not self.model_actions:
            self.menu.insertAction(self.separator, self.no_models)
        self.show_card.setEnabled(self.window.verdicts.card is not None)
        self.menu.setToolTipsVisible(True)

    # ---- actions ----------------------------------------------------------------------------
    def show_model_card(self) -> ModelCardDialog | None:
        verdicts = self.window.verdicts
        if verdicts.card is None:
            self.window.show_message("No model is active: load a model file or train one")
            return None
        dialog = ModelCardDialog(verdicts.card, verdicts.model_path, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setModal(False)
        dialog.show()
        return dialog

    def load_model_file(self, path: str | Path | None = None) -> Path | None:
        """Choose a model file (dialog unless ``path``) and make it the active model."""
        st = self.window.app_settings
        if path is None:
            start = st.last_dir("model") or str(model_catalog.user_dir())
            chosen, _ = QFileDialog.getOpenFileName(
                self.window, "Load model file", start, MODEL_FILTER
            )
            if not chosen:
                return None
            path = chosen
        weights = Path(path)
        if weights.suffix.lower() == model_catalog.CARD_SUFFIX:  # the card was chosen
            weights = model_catalog.weights_path_for(weights)
        st.set_last_dir("model", weights.parent)
        if weights not in self.extra_models:
            self.extra_models.append(weights)
        self.window.choose_model(weights)
        return weights

    def open_training_wizard(self):
        """The training wizard (another module); a clear message if it is not available."""
        try:
            module = importlib.import_module(WIZARD_MODULE)
            wizard_class = module.TrainingWizard
        except ImportError as error:
            missing = getattr(error, "name", None) == WIZARD_MODULE
            reason = "it is not part of this installation" if missing else str(error)
            self._notice(
                "Training wizard unavailable",
                f"The training wizard cannot be opened: {reason}.\n\n"
                "You can train from a terminal with `forensic-viewer train --help`, then load "
                "the saved .safetensors file with Model > Load Model File.",
            )
            return None
        except AttributeError:
            self._notice(
                "Training wizard unavailable", f"{WIZARD_MODULE} has no TrainingWizard class."
            )
            return None
        wizard = wizard_class(parent=self.window)
        wizard.modelReady.connect(self._on_trained)
        wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        wizard.show()
        self.wizard = wizard
        return wizard

    def _on_trained(self, path: str) -> None:
        weights = model_catalog.weights_path_for(path)
        if weights not in self.extra_models:
            self.extra_models.append(weights)
        self.window.choose_model(weights)

    def _notice(self, title: str, text: str) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.Information, title, text, parent=self.window)
        box.setModal(False)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()
        self.last_notice = box
        return box

    def sync(self, heatmap: bool, sort: bool) -> None:
        for action, on in ((self.heatmap, heatmap), (self.sort, sort)):
            if action.isChecked() != on:
                action.blockSignals(True)
                action.setChecked(on)
                action.blockSignals(False)
