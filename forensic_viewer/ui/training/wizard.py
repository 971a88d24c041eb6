"""The training wizard: retrain the network on a labelled folder and watch it learn.

    wizard = TrainingWizard(parent, start_folder="/data/my-set")
    wizard.modelReady.connect(viewer_uses_model)   # path of the saved .safetensors
    wizard.show()

Pages: 1 the folder and what was found in it (training_pages), 2 recipe and hyper-parameters
(training_settings), 3 training with live plots (training_run), 4 results, name and 'Use this
model' (training_results). Long work (discovery, training, saving) runs on the wizard's own
:class:`WorkerPool`; torch is only imported by the training worker.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QMessageBox, QWidget, QWizard

from ..training.pages import DataPage
from ..training.results import ResultsPage
from ..training.run import TrainPage
from ..training.settings import SettingsPage
from ..workers import WorkerPool

DATA_PAGE, SETTINGS_PAGE, TRAIN_PAGE, RESULTS_PAGE = range(4)
WIZARD_SIZE = (1060, 760)

_DRAINING: set[WorkerPool] = set()
"""Worker pools of closed wizards whose jobs are still finishing (a stopped run ends at its next
batch). Held here, not by the wizard, so closing (even with WA_DeleteOnClose) never waits for
them; each is released when it goes idle."""


class TrainingWizard(QWizard):
    """Four pages from a labelled folder to a saved model; see the module docstring."""

    modelReady = Signal(str)
    """The saved model's weights path, when the user clicks 'Use this model'."""

    def __init__(self, parent: QWidget | None = None, start_folder: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a model")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.NoDefaultButton, True)
        self.resize(*WIZARD_SIZE)
        # No Qt parent: deleting the wizard must not wait in QThreadPool's destructor (see done()).
        self.pool = WorkerPool(max_threads=2)
        self.data_page = DataPage(start_folder)
        self.settings_page = SettingsPage()
        self.train_page = TrainPage()
        self.results_page = ResultsPage()
        self.settings_page.setButtonText(QWizard.WizardButton.CommitButton, "Start training")
        self.settings_page.setButtonText(QWizard.WizardButton.NextButton, "Start training")
        self.train_page.setButtonText(QWizard.WizardButton.NextButton, "Results >")
        for page_id, page in (
            (DATA_PAGE, self.data_page),
            (SETTINGS_PAGE, self.settings_page),
            (TRAIN_PAGE, self.train_page),
            (RESULTS_PAGE, self.results_page),
        ):
            self.setPage(page_id, page)
        self.setStartId(DATA_PAGE)

    def is_idle(self) -> bool:
        """No discovery, training or saving in progress (for screenshots and tests)."""
        return self.pool.is_idle()

    def reject(self) -> None:
        """Cancel, Esc and the close button: ask before throwing a run or a model away."""
        if self.train_page.running:
            may_close = self.train_page.request_stop(closing=True)
        elif self.currentId() == RESULTS_PAGE and self.results_page.saved_path is None:
            may_close = self.confirm_discard()
        else:
            may_close = True
        if may_close:
            super().reject()

    def done(self, result: int) -> None:
        """After closing (either way): drop whatever the workers still deliver."""
        super().done(result)  # on Finish, QWizard validates the page first and may stay open
        if self.isVisible():
            return
        if self.train_page.running:
            self.train_page.abandon()
        for page in (self.data_page, self.train_page, self.results_page):
            page.generation.bump()  # late results find their generation stale and are dropped
        if not self.pool.is_idle():
            pool = self.pool
            _DRAINING.add(pool)
            pool.idleChanged.connect(lambda idle: _DRAINING.discard(pool) if idle else None)

    def confirm_discard(self) -> bool:
        """Closing on the results page without saving (tests replace this method)."""
        answer = QMessageBox.question(
            self,
            "Discard the model?",
            "The trained model has not been saved. Close and discard it?",
        )
        return answer == QMessageBox.StandardButton.Yes

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Stop any run and wait for the workers (call before deleting the wizard)."""
        if self.train_page.running:
            self.train_page.abandon()
        return self.pool.shutdown(timeout_ms)
