"""Wizard page 3: training in the background with live plots, progress, ETA and a log.

The trainer (``ml.train.train``) is a generator; a :class:`Worker` drains it on the wizard's pool
and delivers each event on the GUI thread. torch is imported inside the worker, so opening the
wizard never blocks the window on it. Stopping sets a per-run flag that the trainer checks between
batches; the trainer then still yields ``Finished`` with the best epoch so far, which the user may
keep or discard. Nothing is written to the models folder here: saving happens on the results page,
so stopping or a crash never touches an existing model.
"""

from __future__ import annotations

import os
import threading
import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWizardPage,
)

from ..settings import AppSettings
from ..training.plots import TrainingPlots
from ..workers import GenerationCounter, Worker

PROGRESS_STEPS = 1000
KEEP, DISCARD, CONTINUE = "keep", "discard", "continue"


def run_training(settings: dict, dataset, cancel):
    """The worker's job: build the config and drain the trainer (torch is imported here).

    The viewer's predictor sets torch to one intra-op thread (it scores several images side by
    side), and threads started afterwards inherit that: training one network wants every core,
    so the run asks for them on its own thread and gives the setting back when it ends.
    """
    import torch

    from ...ml.train import TrainConfig, train

    if settings.get("recipe") == "localiser":
        yield from _run_localiser(settings, dataset, cancel)
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(max(previous, os.cpu_count() or 1))
    try:
        yield from train(TrainConfig(**settings), dataset, cancel)
    finally:
        torch.set_num_threads(previous)


def _run_localiser(settings: dict, dataset, cancel):
    """The localiser recipe: the labelled folder (with masks) plus generated pairs from the
    optional folder of untouched photos. It sets its own torch threads and restores them."""
    import torch

    from ...ml.localiser_config import LocaliserConfig
    from ...ml.localiser_train import train_localiser

    config = LocaliserConfig(
        dataset=str(dataset.root),
        synthetic=settings.get("synthetic"),
        val_by="photo",
        val_fraction=settings["val_fraction"],
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        lr=settings["lr"],
        seed=settings["seed"],
        bf16=settings["bf16"],
    )
    previous = torch.get_num_threads()
    try:
        yield from train_localiser(config, cancel)
    finally:
        torch.set_num_threads(previous)


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class TrainPage(QWizardPage):
    """Page 3. ``finished`` holds the trainer's Finished event of a run whose model is kept."""

    runFinished = Signal()
    """Emitted once per run, after the last event (success, stop, or error)."""

    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Training")
        self.setSubTitle(
            "The network trains in the background; you can keep using the viewer. Stop keeps "
            "or discards the best model so far."
        )
        self.plots = TrainingPlots()
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_STEPS)
        self.status = QLabel()
        self.eta = QLabel()
        self.eta.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setMaximumHeight(150)
        self.stop_button = QPushButton("Stop training...")
        self.stop_button.setToolTip("Stop after the current batch; keep or discard the best model")
        self.stop_button.clicked.connect(lambda: self.request_stop(closing=False))
        status_row = QHBoxLayout()
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.eta)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.plots, 1)
        layout.addLayout(progress_row)
        layout.addLayout(status_row)
        layout.addWidget(self.log)

        self.generation = GenerationCounter()
        self.worker: Worker | None = None
        self.running = False
        self.finished = None
        self.error: str | None = None
        self.epochs_done = 0
        self.settings: dict = {}
        self._cancel = threading.Event()
        self._stop_choice: str | None = None
        self._started_at = 0.0

    # ---- running -------------------------------------------------------------------------------
    def initializePage(self) -> None:  # noqa: N802 - Qt's name: entered with Next from page 2
        wizard = self.wizard()
        self.start(wizard.settings_page.settings(), wizard.data_page.dataset())

    def start(self, settings: dict, dataset) -> None:
        self.plots.clear()
        self.log.clear()
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.eta.clear()
        self.settings = dict(settings)
        self.finished, self.error, self.epochs_done = None, None, 0
        self._cancel = threading.Event()
        self._stop_choice = None
        self._started_at = 0.0
        self.running = True
        self.stop_button.setEnabled(True)
        self._lock_back(True)
        self._log(
            f"Training with the {settings['recipe']} recipe: up to {settings['epochs']} epochs, "
            f"batch {settings['batch_size']}, learning rate {settings['lr']:g}, "
            f"patience {settings['patience']}, seed {settings['seed']}."
        )
        AppSettings().set_last_dir("dataset", dataset.root)  # offered next time
        self.status.setText("Loading the network library ...")
        generation = self.generation.bump()
        worker = Worker(run_training, self.settings, dataset, self._cancel.is_set)
        worker.yielded.connect(lambda event, g=generation: self._on_event(g, event))
        worker.errored.connect(lambda exc, g=generation: self._on_error(g, exc))
        worker.finished.connect(lambda g=generation: self._on_worker_done(g))
        self.worker = worker
        self.wizard().pool.start(worker, generation)
        self.completeChanged.emit()

    def _lock_back(self, locked: bool) -> None:
        # QWizard disables Back on the page after a commit page: no Back while a run is going.
        self.wizard().settings_page.setCommitPage(locked)
        self.completeChanged.emit()

    def _log(self, line: str) -> None:
        self.log.appendPlainText(line)

    def _on_event(self, generation: int, event) -> None:
        if not self.generation.accept(generation):
            return
        handler = getattr(self, "_on_" + type(event).__name__, None)
        if handler is not None:
            handler(event)

    def _on_Prepared(self, event) -> None:  # noqa: N802 - named after the event class
        train, val = event.train_counts, event.val_counts
        self._log(
            f"Split {event.split_method}: training {train['authentic']} authentic + "
            f"{train['tampered']} tampered, validation {val['authentic']} + {val['tampered']}."
        )
        self._log(f"Device {event.device}, {event.precision}.")
        for warning in event.warnings:
            self._log("Warning: " + warning)

    def _on_CachingProgress(self, event) -> None:  # noqa: N802
        self.progress.setFormat("ELA inputs %v / %m")
        self.progress.setRange(0, max(event.total, 1))
        self.progress.setValue(event.done)
        self.status.setText(
            f"Computing ELA inputs: {event.done} of {event.total} "
            f"({event.reused} reused from the cache, {event.failed} unreadable)"
        )
        if event.done == event.total:
            self._log(
                f"ELA inputs ready: {event.total} images, {event.reused} from the cache, "
                f"{event.failed} unreadable."
            )

    def _on_BatchProgress(self, event) -> None:  # noqa: N802
        if not self._started_at:
            self._started_at = time.monotonic()
            self.progress.setRange(0, PROGRESS_STEPS)
            self.progress.setFormat("%p%")
        self.plots.add_batch(event.epoch, event.batch, event.batches, event.loss)
        epochs = self.settings["epochs"]
        done = (event.epoch - 1 + event.batch / max(event.batches, 1)) / epochs
        self.progress.setValue(round(done * PROGRESS_STEPS))
        self.status.setText(
            f"Epoch {event.epoch} of at most {epochs}: batch {event.batch} / {event.batches}, "
            f"loss {event.loss:.3f}, {event.images_per_s:.1f} images/s"
        )
        elapsed = time.monotonic() - self._started_at
        if done > 0 and elapsed > 0:
            remaining = elapsed / done * (1.0 - done)
            self.eta.setText(f"ETA {format_duration(remaining)} at most")
            self.eta.setToolTip("For all epochs; early stopping usually ends sooner")

    def _on_ValidationProgress(self, event) -> None:  # noqa: N802
        self.status.setText(
            f"Validating epoch {event.epoch}: batch {event.batch} / {event.batches}"
        )

    def _on_EpochEnd(self, event) -> None:  # noqa: N802
        self.epochs_done = event.epoch
        self.plots.add_epoch(
            event.epoch, event.train_loss, event.val_loss, event.train_acc, event.val_acc
        )
        self._log(
            f"Epoch {event.epoch}: loss {event.train_loss:.4f}, accuracy {event.train_acc:.3f} | "
            f"validation loss {event.val_loss:.4f}, accuracy {event.val_acc:.3f}, "
            f"AUC {event.val_auc:.3f} ({event.seconds:.1f} s)"
        )

    def _on_LocaliserEpochEnd(self, event) -> None:  # noqa: N802
        self._on_EpochEnd(event)
        self.plots.add_pixel_metric(event.epoch, event.val_pixel_auc)
        self._log(
            f"  pixel AUC {event.val_pixel_auc:.3f}, pixel F1 {event.val_pixel_f1:.3f} "
            "(median over tampered validation images)"
            + (
                f"; {event.fresh_items} training items freshly generated in the background"
                if event.fresh_items
                else ""
            )
        )

    def _on_FeatureProgress(self, event) -> None:  # noqa: N802
        self.progress.setFormat("Features %v / %m")
        self.progress.setRange(0, max(event.total, 1))
        self.progress.setValue(event.done)
        self.status.setText(f"Block features ({event.source}): {event.done} of {event.total}")

    def _on_EarlyStop(self, event) -> None:  # noqa: N802
        self._log(
            f"Early stopping after epoch {event.epoch}: no improvement for "
            f"{self.settings['patience']} epochs. Best epoch {event.best_epoch} restored."
        )

    def _on_Finished(self, event) -> None:  # noqa: N802
        keep = self._stop_choice in (None, KEEP) and event.model is not None
        if event.model is None:
            self._log("No epoch finished, so there is no model.")
        elif not keep:
            self._log("Training stopped; the model was discarded.")
        else:
            stopped = " (stopped: best epoch so far)" if event.cancelled else ""
            self._log(f"Finished{stopped}: best epoch {event.best_epoch}.")
        self.finished = event if keep else None
        if keep:
            self.progress.setValue(PROGRESS_STEPS)
            self.status.setText("Done. Next shows the results.")
        else:
            self.status.setText("Stopped. Back changes the settings.")

    def _on_error(self, generation: int, exc: Exception) -> None:
        if not self.generation.accept(generation):
            return
        self.error = str(exc) or type(exc).__name__
        self._log("Training failed: " + self.error)
        self.status.setText("Training failed: " + self.error)
        self.status.setStyleSheet("color: #b00020;")

    def _on_worker_done(self, generation: int) -> None:
        if not self.generation.is_current(generation):
            return
        self.running = False
        self.worker = None
        self.stop_button.setEnabled(False)
        self.eta.clear()
        self._lock_back(False)
        self.runFinished.emit()
        if self.finished is not None and self._stop_choice == KEEP:
            self.wizard().next()  # the user asked to keep it: show it

    # ---- stopping ------------------------------------------------------------------------------
    def ask_stop(self, has_model: bool) -> str:
        """KEEP, DISCARD or CONTINUE (a modal question; tests replace this method)."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Stop training?")
        keep = None
        if has_model:
            box.setText(
                f"Stop training? The best model so far ({self.epochs_done} "
                f"epoch{'s' if self.epochs_done != 1 else ''} done) can be kept and saved on the "
                "next page."
            )
            keep = box.addButton("Keep best so far", QMessageBox.ButtonRole.AcceptRole)
        else:
            box.setText("Stop training? No epoch has finished yet, so there is no model to keep.")
        discard = box.addButton(
            "Discard" if has_model else "Stop", QMessageBox.ButtonRole.DestructiveRole
        )
        resume = box.addButton("Continue training", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(resume)
        box.exec()
        clicked = box.clickedButton()
        if keep is not None and clicked is keep:
            return KEEP
        return DISCARD if clicked is discard else CONTINUE

    def request_stop(self, closing: bool) -> bool:
        """Ask, then stop after the current batch. Returns True if the wizard may close now.

        Closing with Discard abandons the run at once: its remaining events are dropped by the
        generation counter and the worker ends at its next batch, out of sight.
        """
        if not self.running:
            return True
        if self._cancel.is_set():  # already stopping (keep): closing now means discard
            if closing:
                self.abandon()
            return closing
        choice = self.ask_stop(self.epochs_done > 0)
        if not self.running:  # the run ended while the question was open
            return closing and choice == DISCARD
        if choice == CONTINUE:
            return False
        self._stop_choice = choice
        self._cancel.set()
        if closing and choice == DISCARD:
            self.abandon()
            return True
        self.stop_button.setEnabled(False)
        self._log(
            "Stopping after the current batch; "
            + ("keeping the best model so far." if choice == KEEP else "discarding the model.")
        )
        self.status.setText("Stopping ...")
        return False

    def abandon(self) -> None:
        """Stop the run and forget it without waiting for it (the wizard is closing)."""
        self._cancel.set()
        self.generation.bump()
        self.running = False
        self.worker = None
        self.finished = None
        self.stop_button.setEnabled(False)
        self._lock_back(False)

    def cleanupPage(self) -> None:  # noqa: N802 - Back to page 2 (only possible when idle)
        self.finished = None

    def isComplete(self) -> bool:  # noqa: N802
        return not self.running and self.finished is not None
