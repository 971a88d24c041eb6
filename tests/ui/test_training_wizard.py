"""The training wizard end to end on tiny generated datasets: discovery, training with live plots,
stopping (keep / discard / close), results and 'Use this model'.

The network is the real 29.5 M-parameter ElaCnn on the classic recipe (128 x 128 inputs), so the
datasets are tiny (64 x 64 JPEGs, a few dozen) and runs are 1-3 epochs of batch 8.
"""

from __future__ import annotations

import io
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWizard

from forensic_viewer.core.paths import user_models_dir
from forensic_viewer.ml.data import scan_dataset, split_dataset
from forensic_viewer.ui.training.results import format_metric
from forensic_viewer.ui.training.run import CONTINUE, DISCARD, KEEP
from forensic_viewer.ui.training.settings import CLASSIC_DEFAULTS, RECOMMENDED_DEFAULTS
from forensic_viewer.ui.training.wizard import (
    DATA_PAGE,
    RESULTS_PAGE,
    SETTINGS_PAGE,
    TRAIN_PAGE,
    TrainingWizard,
)

TRAIN_TIMEOUT_MS = 90_000
BATCH = 8


def photo(seed: int, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    base = np.stack([x * 4, y * 4, (x + y) * 2], axis=2) + rng.integers(-20, 21, (size, size, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


def save_authentic(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(photo(seed)).save(path, "JPEG", quality=95)


def save_tampered(path: Path, seed: int) -> None:
    """Compressed hard at quality 40, then re-saved at 95: a different ELA, so it is learnable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    first = io.BytesIO()
    Image.fromarray(photo(seed)).save(first, "JPEG", quality=40)
    first.seek(0)
    Image.open(first).convert("RGB").save(path, "JPEG", quality=95)


def make_dataset(root: Path, authentic: int, tampered: int) -> Path:
    for i in range(authentic):
        save_authentic(root / "authentic" / f"a{i:03d}.jpg", 2 * i)
    for i in range(tampered):
        save_tampered(root / "tampered" / f"t{i:03d}.jpg", 2 * i + 1)
    return root


@pytest.fixture
def tiny(tmp_path) -> Path:
    return make_dataset(tmp_path / "tiny", 20, 20)


@pytest.fixture
def open_wizard(qtbot):
    made = []

    def factory(folder: Path | None = None) -> TrainingWizard:
        wizard = TrainingWizard(start_folder=str(folder) if folder else None)
        qtbot.addWidget(wizard)
        wizard.show()
        made.append(wizard)
        return wizard

    yield factory
    for wizard in made:
        assert wizard.shutdown(30_000)


def wait_discovered(qtbot, wizard: TrainingWizard) -> None:
    qtbot.waitUntil(lambda: wizard.data_page.discovery is not None, timeout=20_000)


def start_training(qtbot, wizard: TrainingWizard, epochs: int, patience: int = 0) -> None:
    wait_discovered(qtbot, wizard)
    assert wizard.data_page.isComplete()
    wizard.next()
    assert wizard.currentId() == SETTINGS_PAGE
    page = wizard.settings_page
    page.apply(CLASSIC_DEFAULTS)  # tiny 64 px images: the whole-image recipe
    page.epochs.setValue(epochs)
    page.batch_size.setValue(BATCH)
    page.patience.setValue(patience)
    wizard.next()
    assert wizard.currentId() == TRAIN_PAGE
    assert wizard.train_page.running


def curve_lengths(wizard: TrainingWizard) -> dict[str, int]:
    plots = wizard.train_page.plots
    names = ("batch_loss", "train_loss", "val_loss", "train_acc", "val_acc")
    lengths = {}
    for name in names:
        x = getattr(plots, name + "_curve").getData()[0]
        lengths[name] = 0 if x is None else len(x)  # an empty curve has no arrays at all
    return lengths


def model_files() -> list[Path]:
    folder = user_models_dir()
    return sorted(folder.iterdir()) if folder.is_dir() else []


# ---- page 1 ------------------------------------------------------------------------------------


def test_data_page_shows_counts_thumbnails_skipped_files_and_warnings(qtbot, open_wizard, tmp_path):
    root = make_dataset(tmp_path / "set", 12, 3)
    (root / "authentic" / "broken.jpg").write_bytes(b"")
    (root / "unsorted").mkdir()
    save_authentic(root / "unsorted" / "loose.jpg", 99)
    wizard = open_wizard(root)
    wait_discovered(qtbot, wizard)
    page = wizard.data_page
    assert page.folder_edit.text() == str(root)
    assert page.count_labels[0].text() == "12 images"
    assert page.count_labels[1].text() == "3 images"
    thumbs = {label: row.count() - 1 for label, row in page.thumbnail_rows.items()}
    assert thumbs == {0: 6, 1: 3}
    assert page.split_label.text() == (
        "Validation split: random by file (no source-photo groups known)."
    )
    warnings = page.warnings_label.text()
    assert "Only 12 authentic images" in warnings and "Only 3 tampered images" in warnings
    assert "Classes are imbalanced (12 authentic, 3 tampered)" in warnings
    assert "near-duplicates may leak" in warnings
    assert "2 files skipped" in warnings
    assert page.skipped_label.text() == "Skipped files (2):"
    skipped = sorted(page.skipped_list.item(i).text() for i in range(page.skipped_list.count()))
    assert skipped == [
        "broken.jpg: empty file",
        "loose.jpg: no class: not in a class folder, no Au_/Tp_/Sp_ name",
    ]
    assert page.isComplete()
    assert wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def test_data_page_blocks_a_folder_with_one_class_and_names_casia_groups(
    qtbot, open_wizard, tmp_path
):
    only_authentic = make_dataset(tmp_path / "au", 5, 0)
    wizard = open_wizard(only_authentic)
    wait_discovered(qtbot, wizard)
    page = wizard.data_page
    assert "No tampered images found" in page.warnings_label.text()
    assert not page.isComplete()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()

    casia = tmp_path / "casia"
    for i, name in enumerate(["Au_ani_0001", "Au_ani_0002", "Au_arc_0003"]):
        save_authentic(casia / f"{name}.jpg", i)
    for i, name in enumerate(
        ["Sp_D_NRN_A_ani0001_arc0003_0001", "Sp_S_NRN_A_ani0002_ani0002_0002"]
    ):
        save_tampered(casia / f"{name}.jpg", 10 + i)
    page.set_folder(str(casia))
    wait_discovered(qtbot, wizard)
    assert page.count_labels[0].text() == "3 images"
    assert page.count_labels[1].text() == "2 images"
    # ani0001 + arc0003 joined by the splice, ani0002 alone: two source photos
    assert page.split_label.text() == (
        "Validation split: by source photo, from the photo ids in the CASIA file names "
        "(2 source-photo groups)."
    )
    assert page.isComplete()


def test_a_folder_dropped_on_the_path_field_is_scanned(qtbot, open_wizard, tiny, tmp_path):
    wizard = open_wizard()
    page = wizard.data_page
    assert page.discovery is None and not page.isComplete()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tiny))])
    args = (
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    enter = QDragEnterEvent(QPointF(5, 5), *args)
    QApplication.sendEvent(page.folder_edit, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(page.folder_edit, QDropEvent(QPointF(5, 5), *args))
    assert page.folder_edit.text() == str(tiny)
    wait_discovered(qtbot, wizard)
    assert page.count_labels[0].text() == "20 images"
    assert page.isComplete()
    # a file is not a dataset: refused
    mime.setUrls([QUrl.fromLocalFile(str(tiny / "authentic" / "a000.jpg"))])
    refused = QDragEnterEvent(QPointF(5, 5), *args)
    QApplication.sendEvent(page, refused)
    assert not refused.isAccepted()


# ---- page 2 ------------------------------------------------------------------------------------


def test_settings_page_defaults_are_the_recommended_and_classic_is_one_click(open_wizard):
    from forensic_viewer.ml.train import TrainConfig

    defaults = TrainConfig()
    assert {key: getattr(defaults, key) for key in CLASSIC_DEFAULTS} == CLASSIC_DEFAULTS
    TrainConfig(**RECOMMENDED_DEFAULTS).recipe_object()  # a valid configuration
    page = open_wizard().settings_page
    assert page.settings() == RECOMMENDED_DEFAULTS
    assert page.settings()["recipe"] == "ghost" and "70, 80 and 90" in page.recipe_hint.text()
    page.apply(CLASSIC_DEFAULTS)
    assert page.settings() == CLASSIC_DEFAULTS
    page.lr.setText("3e-5")
    page.val_percent.setValue(25)
    page.recipe.setCurrentIndex(page.recipe.findData("tiles"))
    changed = page.settings()
    assert (changed["lr"], changed["val_fraction"], changed["recipe"]) == (3e-5, 0.25, "tiles")
    page.lr.setText("")
    assert not page.isComplete()
    page.restore_defaults()
    assert page.settings() == RECOMMENDED_DEFAULTS and page.isComplete()


# ---- pages 3 and 4 -----------------------------------------------------------------------------


def test_train_end_to_end_plots_results_and_use_this_model(qtbot, open_wizard, tiny, monkeypatch):
    import torch

    import forensic_viewer.ml.train as ml_train

    wizard = open_wizard(tiny)
    real_train = ml_train.train

    def train_watching_threads(*args, **kwargs):  # runs on the worker thread
        for event in real_train(*args, **kwargs):
            threads_seen.add(torch.get_num_threads())
            yield event

    monkeypatch.setattr(ml_train, "train", train_watching_threads)
    gaps, threads_seen = [], set()
    last = [time.monotonic()]

    def tick():  # the GUI thread must keep running while the network trains
        now = time.monotonic()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(50)
    timer.timeout.connect(tick)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)  # as the viewer's predictor leaves it (new threads inherit it)
    try:
        start_training(qtbot, wizard, epochs=2)
        assert not wizard.button(QWizard.WizardButton.BackButton).isEnabled()
        timer.start()
        qtbot.waitUntil(lambda: not wizard.train_page.running, timeout=TRAIN_TIMEOUT_MS)
        timer.stop()
        assert threads_seen == {os.cpu_count()}  # the run asks for every core
    finally:
        torch.set_num_threads(threads_before)
    page = wizard.train_page
    assert page.error is None, page.error
    finished = page.finished
    assert finished is not None and not finished.cancelled
    assert max(gaps) < 1.5, f"the window froze for {max(gaps):.2f} s"

    split = split_dataset(scan_dataset(tiny), 0.2, 0)
    batches = math.ceil(len(split.train) / BATCH)
    assert curve_lengths(wizard) == {
        "batch_loss": 2 * batches, "train_loss": 2, "val_loss": 2, "train_acc": 2, "val_acc": 2,
    }  # fmt: skip
    x, y = page.plots.val_acc_curve.getData()
    assert list(x) == [1, 2]
    assert list(y) == [epoch["val_acc"] for epoch in finished.history]
    assert list(page.plots.train_loss_curve.getData()[1]) == [
        epoch["train_loss"] for epoch in finished.history
    ]
    assert page.plots.batch_loss_curve.getData()[0][-1] == 2.0
    assert page.progress.value() == page.progress.maximum()
    assert "Epoch 2: loss" in page.log.toPlainText()
    assert wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    assert wizard.button(QWizard.WizardButton.BackButton).isEnabled()

    wizard.next()
    assert wizard.currentId() == RESULTS_PAGE
    results = wizard.results_page
    validation = finished.metrics["validation"]
    assert results.metric_labels["accuracy"].text() == format_metric(
        validation["accuracy"], percent=True
    )
    assert results.metric_labels["balanced_accuracy"].text() == format_metric(
        validation["balanced_accuracy"], percent=True
    )
    assert results.metric_labels["roc_auc"].text() == format_metric(validation["roc_auc"])
    assert results.matrix_view.matrix == validation["confusion_matrix"]
    assert sum(map(sum, results.matrix_view.matrix)) == len(split.val)
    roc_x, roc_y = results.roc_plot.curve.getData()
    assert list(roc_x) == finished.metrics["roc_curve"]["fpr"]
    assert list(roc_y) == finished.metrics["roc_curve"]["tpr"]
    assert results.name_edit.text().startswith("classic-tiny-")
    assert model_files() == []

    results.name_edit.setText("my-model")
    assert results.warnings and results.caution.isVisible()  # 8 validation images: too few
    asked = []
    results.confirm_weak_model = lambda: asked.append(1) or True
    finish = wizard.button(QWizard.WizardButton.FinishButton)
    assert finish.text() == "Use this model"
    with qtbot.waitSignal(wizard.modelReady, timeout=30_000) as ready:
        finish.click()
    path = Path(ready.args[0])
    assert asked == [1]
    assert path == user_models_dir() / "my-model.safetensors"
    assert model_files() == [path]  # one file: the card is inside it
    qtbot.waitUntil(lambda: not wizard.isVisible(), timeout=5_000)
    assert wizard.result() == QWizard.DialogCode.Accepted

    from forensic_viewer.ml.modelfile import load_model

    loaded = load_model(path)
    assert loaded.card.name == "my-model"
    assert loaded.card.metrics["validation"] == validation
    assert loaded.card.training["history"] == finished.history


def test_cancel_asks_and_keeps_the_best_model_so_far(qtbot, open_wizard, tiny):
    wizard = open_wizard(tiny)
    start_training(qtbot, wizard, epochs=3)
    page = wizard.train_page
    asked = []
    answers = iter([CONTINUE, KEEP])
    page.ask_stop = lambda has_model: asked.append(has_model) or next(answers)
    qtbot.waitUntil(lambda: page.epochs_done >= 1, timeout=TRAIN_TIMEOUT_MS)
    cancel = wizard.button(QWizard.WizardButton.CancelButton)
    cancel.click()  # 'Continue training'
    assert page.running and wizard.isVisible()
    cancel.click()  # 'Keep best so far'
    assert asked == [True, True]
    assert wizard.isVisible()
    qtbot.waitUntil(lambda: wizard.currentId() == RESULTS_PAGE, timeout=TRAIN_TIMEOUT_MS)
    finished = page.finished
    assert finished.cancelled
    epochs_done = len(finished.history)
    assert 1 <= finished.best_epoch <= epochs_done < 3
    assert curve_lengths(wizard)["val_acc"] == epochs_done
    assert "stopped early by you" in wizard.results_page.summary.text()
    assert model_files() == []  # nothing is written until the user saves

    wizard.confirm_discard = lambda: False
    cancel.click()
    assert wizard.isVisible()
    wizard.results_page.name_edit.setText("kept")
    with qtbot.waitSignal(wizard.results_page.saved, timeout=30_000) as saved:
        wizard.results_page.save_button.click()
    assert Path(saved.args[0]) == user_models_dir() / "kept.safetensors"
    assert wizard.isVisible()  # Save alone does not switch the viewer or close
    cancel.click()  # saved: no question
    assert not wizard.isVisible()


def test_stop_and_discard_before_an_epoch_ends(qtbot, open_wizard, tiny):
    wizard = open_wizard(tiny)
    start_training(qtbot, wizard, epochs=2)
    page = wizard.train_page
    asked = []
    page.ask_stop = lambda has_model: asked.append(has_model) or DISCARD
    qtbot.waitUntil(lambda: len(page.plots.batch_x) >= 1, timeout=TRAIN_TIMEOUT_MS)
    page.stop_button.click()
    assert asked == [False]  # no epoch finished yet: nothing to keep
    qtbot.waitUntil(lambda: not page.running, timeout=TRAIN_TIMEOUT_MS)
    assert page.finished is None and page.error is None
    assert wizard.currentId() == TRAIN_PAGE
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    assert wizard.button(QWizard.WizardButton.BackButton).isEnabled()
    assert curve_lengths(wizard)["val_acc"] == 0
    assert page.log.toPlainText().endswith(
        "Stopping after the current batch; discarding the model.\n"
        "No epoch finished, so there is no model."
    )
    wizard.back()
    assert wizard.currentId() == SETTINGS_PAGE
    assert model_files() == []
    # the next wizard offers the folder this run trained on
    again = open_wizard()
    assert again.data_page.folder_edit.text() == str(tiny)
    wait_discovered(qtbot, again)
    assert again.data_page.count_labels[1].text() == "20 images"


def test_closing_while_training_discards_and_the_worker_stops(qtbot, open_wizard, tiny):
    wizard = open_wizard(tiny)
    start_training(qtbot, wizard, epochs=30)  # about a minute if it were not stopped
    page = wizard.train_page
    page.ask_stop = lambda has_model: DISCARD
    qtbot.waitUntil(lambda: len(page.plots.batch_x) >= 1, timeout=TRAIN_TIMEOUT_MS)
    points = len(page.plots.batch_x)
    wizard.reject()
    assert not wizard.isVisible()
    assert wizard.result() == QWizard.DialogCode.Rejected
    # the trainer honours the flag between batches: the pool drains long before 30 epochs
    qtbot.waitUntil(wizard.is_idle, timeout=15_000)
    assert len(page.plots.batch_x) == points  # the abandoned run's late events are dropped
    assert model_files() == []


def test_a_wizard_deleted_on_close_mid_run_does_not_wait_for_the_worker(qtbot, tiny):
    """The Model menu opens the wizard with WA_DeleteOnClose: closing must not block on the
    running batch, and the run's late events must not reach the deleted pages."""
    from forensic_viewer.ui.training import wizard as training_wizard

    wizard = TrainingWizard(start_folder=str(tiny))
    wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    wizard.show()
    start_training(qtbot, wizard, epochs=30)
    page = wizard.train_page
    page.ask_stop = lambda has_model: DISCARD
    qtbot.waitUntil(lambda: len(page.plots.batch_x) >= 1, timeout=TRAIN_TIMEOUT_MS)
    pool = wizard.pool
    with qtbot.waitSignal(wizard.destroyed, timeout=5_000):
        started = time.monotonic()
        wizard.reject()
        closing_took = time.monotonic() - started
    assert closing_took < 0.5
    assert pool in training_wizard._DRAINING and not pool.is_idle()
    qtbot.waitUntil(lambda: pool not in training_wizard._DRAINING, timeout=15_000)
    assert pool.is_idle()
    assert model_files() == []


def test_a_failed_run_is_reported_and_back_is_open(qtbot, open_wizard, tmp_path):
    root = make_dataset(tmp_path / "cut", 5, 5)
    for path in root.rglob("*.jpg"):  # headers intact, cut before the first row of pixels
        data = path.read_bytes()
        path.write_bytes(data[: data.index(b"\xff\xda") + 20])
    wizard = open_wizard(root)
    start_training(qtbot, wizard, epochs=1)
    page = wizard.train_page
    qtbot.waitUntil(lambda: not page.running, timeout=TRAIN_TIMEOUT_MS)
    assert page.error == "no readable images left in the training or validation split"
    assert page.status.text() == "Training failed: " + page.error
    assert "ELA inputs ready: 10 images, 0 from the cache, 10 unreadable." in page.log.toPlainText()
    assert page.finished is None
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    assert wizard.button(QWizard.WizardButton.BackButton).isEnabled()


def test_wizard_starts_empty_on_page_one(open_wizard):
    wizard = open_wizard()
    assert wizard.currentId() == DATA_PAGE
    assert wizard.data_page.status.text() == "No folder chosen yet."
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def test_opening_the_wizard_and_scanning_a_folder_does_not_import_torch(tiny):
    """torch (about a second to import) is loaded by the training worker, not the GUI thread."""
    import subprocess
    import sys

    script = (
        "import sys, time\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from forensic_viewer.ui.training.wizard import TrainingWizard\n"
        f"wizard = TrainingWizard(start_folder={str(tiny)!r})\n"
        "wizard.show()\n"
        "deadline = time.monotonic() + 20\n"
        "while wizard.data_page.discovery is None and time.monotonic() < deadline:\n"
        "    app.processEvents(); time.sleep(0.01)\n"
        "print(wizard.data_page.count_labels[1].text(), 'torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "20 images False"
