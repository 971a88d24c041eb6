"""Wizard page 4: how good the model is on validation, its name, and 'Use this model'.

Saving goes through ``ml.train.save_trained`` (modelfile's atomic writer) on a worker, into
``core.paths.user_models_dir()/<name>.safetensors``, one file with its card inside. Only the
user's own models folder is written; the shipped default model is never touched.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from html import escape
from pathlib import Path

from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from ...core.paths import user_models_dir
from ..training.plots import ConfusionMatrixView, RocPlot
from ..workers import GenerationCounter, Worker

CAUTION_STYLE = "border: 2px solid #d68910; border-radius: 4px; padding: 6px;"
"""An orange frame around text in the palette's own colour: legible on light and dark palettes."""
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}"
_NAME_RE = re.compile(NAME_PATTERN)


def save_finished(finished, path: Path) -> Path:
    """The worker's job: write weights and card atomically (torch is already loaded)."""
    from ...ml.train import save_trained

    return save_trained(finished, path)


def default_model_name(dataset_root: str | Path | None, recipe: str) -> str:
    folder = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(dataset_root).name if dataset_root else "")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M")
    return "-".join(part for part in (recipe, folder.strip("-._"), stamp) if part)


MIN_VALIDATION = 50
MIN_VALIDATION_PER_CLASS = 20
"""Below these, validation numbers swing by 15+ points from one split to the next."""
NEAR_CHANCE_AUC = 0.65
"""ROC AUC 0.5 is guessing; the classic recipe reaches 0.78 on CASIA, the default model 0.999."""


def wilson_interval(share: float, count: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion measured on ``count`` trials."""
    denominator = 1 + z * z / count
    centre = (share + z * z / (2 * count)) / denominator
    half = z * math.sqrt(share * (1 - share) / count + z * z / (4 * count * count)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def result_warnings(validation: dict) -> list[str]:
    """Why the validation numbers should not be trusted, in words (empty when they can be)."""
    warnings = []
    count = int(validation.get("count") or 0)
    per_class = validation.get("per_class") or {}
    smallest = min(int(per_class.get("authentic", 0)), int(per_class.get("tampered", 0)))
    if count < MIN_VALIDATION or smallest < MIN_VALIDATION_PER_CLASS:
        accuracy = validation.get("accuracy")
        spread = ""
        if isinstance(accuracy, int | float) and math.isfinite(accuracy) and count:
            low, high = wilson_interval(accuracy, count)
            spread = f" The accuracy's 95% interval is {low:.0%} to {high:.0%}."
        warnings.append(
            f"Only {count} validation images ({per_class.get('authentic', 0)} authentic, "
            f"{per_class.get('tampered', 0)} tampered): too few to measure the model.{spread} "
            f"Use a larger folder or a larger validation share (at least {MIN_VALIDATION} "
            f"images, {MIN_VALIDATION_PER_CLASS} of each class)."
        )
    auc = validation.get("roc_auc")
    if not isinstance(auc, int | float) or not math.isfinite(auc):
        warnings.append("No ROC AUC: the validation images do not contain both classes.")
    elif auc < NEAR_CHANCE_AUC:
        warnings.append(
            f"ROC AUC {auc:.2f} is near chance (0.5 is guessing): this model barely tells "
            "tampered from authentic images. Its verdicts would mislead."
        )
    return warnings


def format_metric(value, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.1%}" if percent else f"{value:.3f}"


class ResultsPage(QWizardPage):
    """Page 4. The wizard's Finish button reads 'Use this model'."""

    saved = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Results")
        self.setSubTitle(
            "Measured on the validation images, which the network never trained on. The "
            "threshold and calibration are fitted on them too, so treat these numbers as "
            "optimistic."
        )
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.matrix_view = ConfusionMatrixView()
        self.roc_plot = RocPlot()
        self.metric_labels: dict[str, QLabel] = {}
        metrics_form = QFormLayout()
        for key, title, tip in (
            ("accuracy", "Accuracy", "Share of validation images labelled correctly"),
            ("balanced_accuracy", "Balanced accuracy", "Mean of the two classes' recalls"),
            ("roc_auc", "ROC AUC", "Chance that a tampered image scores above an authentic one"),
            ("authentic_flagged", "Authentic flagged", "Authentic images called tampered"),
            ("tampered_detected", "Tampered detected", "Tampered images called tampered"),
            ("threshold", "Threshold", "P(tampered) at or above this is labelled tampered"),
            ("calibration", "Calibration (ECE)", "Expected calibration error, before -> after"),
            ("uncalibrated", "Uncalibrated at 0.5", "Accuracy with the raw scores at 0.5"),
        ):
            label = QLabel("-")
            label.setToolTip(tip)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            metrics_form.addRow(title + ":", label)
            self.metric_labels[key] = label
        for label in (self.metric_labels["accuracy"], self.metric_labels["roc_auc"]):
            label.setStyleSheet("font-weight: bold;")

        self.name_edit = QLineEdit()
        self.name_edit.setValidator(
            QRegularExpressionValidator(QRegularExpression(NAME_PATTERN), self.name_edit)
        )
        self.name_edit.setToolTip("Letters, digits, '.', '_' and '-'")
        self.name_edit.textChanged.connect(self._name_changed)
        self.path_label = QLabel()
        self.path_label.setWordWrap(True)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.save_button = QPushButton("Save")
        self.save_button.setToolTip("Save the model without switching the viewer to it")
        self.save_button.clicked.connect(lambda: self.save(use_after=False))
        self.caution = QLabel()
        self.caution.setWordWrap(True)
        self.caution.setStyleSheet(CAUTION_STYLE)
        self.caution.setVisible(False)
        self.warnings: list[str] = []

        # Left: the matrix above the numbers; right: the ROC curve taking the remaining room.
        left = QVBoxLayout()
        left.addWidget(self.matrix_view)
        left.addSpacing(8)
        left.addLayout(metrics_form)
        left.addStretch(1)
        body = QHBoxLayout()
        body.addLayout(left)
        body.addWidget(self.roc_plot, 1)
        name_row = QHBoxLayout()
        name_row.addWidget(QLabel("Model name:"))
        name_row.addWidget(self.name_edit, 1)
        name_row.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addLayout(body, 1)
        layout.addWidget(self.caution)
        layout.addLayout(name_row)
        layout.addWidget(self.path_label)

        self.generation = GenerationCounter()
        self.saved_path: Path | None = None
        self.saving = False
        self.save_error: str | None = None
        self._use_after_save = False
        self._weak_confirmed = False

    # ---- showing the run -----------------------------------------------------------------------
    def initializePage(self) -> None:  # noqa: N802 - Qt's name
        wizard = self.wizard()
        wizard.setButtonText(QWizard.WizardButton.FinishButton, "Use this model")
        finished = wizard.train_page.finished
        self.saved_path, self.save_error, self.saving = None, None, False
        self._weak_confirmed = False
        self.show_results(finished)
        dataset = wizard.data_page.dataset()
        recipe = wizard.train_page.settings.get("recipe", "model")
        self.name_edit.setText(default_model_name(dataset.root if dataset else None, recipe))

    def show_results(self, finished) -> None:
        metrics = finished.metrics
        validation = metrics.get("validation", {})
        self.matrix_view.set_matrix(validation.get("confusion_matrix", [[0, 0], [0, 0]]))
        roc = metrics.get("roc_curve", {})
        self.roc_plot.set_curve(roc.get("fpr", []), roc.get("tpr", []))
        values = self.metric_labels
        for key in ("accuracy", "balanced_accuracy", "authentic_flagged", "tampered_detected"):
            values[key].setText(format_metric(validation.get(key), percent=True))
        values["roc_auc"].setText(format_metric(validation.get("roc_auc")))
        values["threshold"].setText(format_metric(metrics.get("threshold")))
        values["calibration"].setText(
            f"{format_metric(metrics.get('ece_before'))} -> "
            f"{format_metric(metrics.get('ece_after'))} "
            f"(temperature {format_metric(metrics.get('temperature'))})"
        )
        raw = metrics.get("validation_uncalibrated_at_0.5", {})
        values["uncalibrated"].setText(
            f"accuracy {format_metric(raw.get('accuracy'), percent=True)}, balanced "
            f"{format_metric(raw.get('balanced_accuracy'), percent=True)}"
        )
        self.warnings = result_warnings(validation)
        self.caution.setText("<br>".join("&#9888; " + escape(w) for w in self.warnings))
        self.caution.setVisible(bool(self.warnings))
        per_class = validation.get("per_class", {})
        stopped = " Training was stopped early by you." if finished.cancelled else ""
        self.summary.setText(
            f"Best epoch {finished.best_epoch} of {metrics.get('epochs_run', '?')}, "
            f"{validation.get('count', 0)} validation images ({per_class.get('authentic', 0)} "
            f"authentic, {per_class.get('tampered', 0)} tampered), trained in "
            f"{metrics.get('seconds', 0):.0f} s.{stopped}"
        )

    # ---- naming and saving ---------------------------------------------------------------------
    def model_name(self) -> str:
        return self.name_edit.text().strip()

    def target_path(self) -> Path:
        return user_models_dir() / f"{self.model_name()}.safetensors"

    def _name_changed(self) -> None:
        if self.saved_path is not None and self.saved_path != self.target_path():
            self.saved_path = None
        self._show_path()
        self.completeChanged.emit()

    def _show_path(self, note: str = "") -> None:
        if not _NAME_RE.fullmatch(self.model_name()):
            self.path_label.setText("Give the model a name (letters, digits, '.', '_', '-').")
            return
        target = self.target_path()
        if self.saved_path == target:
            state = "Saved as"
        elif target.exists():
            state = "Will replace"
        else:
            state = "Will be saved as"
        self.path_label.setText(f"{state} {target}{note}")

    def isComplete(self) -> bool:  # noqa: N802
        return bool(_NAME_RE.fullmatch(self.model_name())) and not self.saving

    def confirm_replace(self, path: Path) -> bool:
        """Ask before replacing a model of the same name (tests replace this method)."""
        answer = QMessageBox.question(
            self,
            "Replace model?",
            f"A model named '{path.stem}' already exists in {path.parent}. Replace it?",
        )
        return answer == QMessageBox.StandardButton.Yes

    def save(self, use_after: bool) -> None:
        """Save on a worker; with ``use_after`` the wizard emits modelReady and closes."""
        if self.saving or not self.isComplete():
            return
        target = self.target_path()
        if self.saved_path == target:
            self._saved(target, use_after)
            return
        if target.exists() and not self.confirm_replace(target):
            return
        self.saving, self.save_error = True, None
        self._use_after_save = use_after
        self.save_button.setEnabled(False)
        self.name_edit.setEnabled(False)
        self.path_label.setText(f"Saving {target} ...")
        self.completeChanged.emit()
        finished = self.wizard().train_page.finished
        generation = self.generation.bump()
        worker = Worker(save_finished, finished, target)
        worker.returned.connect(
            lambda path, g=generation: (
                self.generation.is_current(g) and self._saved(Path(path), self._use_after_save)
            )
        )
        worker.errored.connect(
            lambda exc, g=generation: self.generation.is_current(g) and self._save_failed(exc)
        )
        worker.finished.connect(lambda g=generation: self._save_done(g))
        self.wizard().pool.start(worker, generation)

    def _save_done(self, generation: int) -> None:
        if not self.generation.is_current(generation):
            return
        self.saving = False
        self.save_button.setEnabled(True)
        self.name_edit.setEnabled(True)
        self.completeChanged.emit()

    def _saved(self, path: Path, use_after: bool) -> None:
        self.saved_path = path
        self._show_path()
        self.saved.emit(str(path))
        if use_after:
            self.wizard().accept()  # QWizard validates this page again: modelReady, then closes

    def _save_failed(self, exc: Exception) -> None:
        self.save_error = str(exc) or type(exc).__name__
        self.path_label.setText(f"Could not save the model: {self.save_error}")

    def confirm_weak_model(self) -> bool:
        """Ask before switching the viewer to a model the warnings cast doubt on (tests replace
        this method)."""
        answer = QMessageBox.warning(
            self,
            "Use this model?",
            "\n\n".join(self.warnings) + "\n\nUse this model for the viewer's verdicts anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def validatePage(self) -> bool:  # noqa: N802 - Finish ('Use this model')
        if self.warnings and not self._weak_confirmed:
            if not self.confirm_weak_model():
                return False
            self._weak_confirmed = True  # not again when the save's accept() validates anew
        if self.saved_path == self.target_path():
            self.wizard().modelReady.emit(str(self.saved_path))
            return True
        self.save(use_after=True)  # closes the wizard when the file is written
        return False
