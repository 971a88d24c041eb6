"""The wizard trains the block localiser with the same generator as ``train --recipe localiser``:
a labelled folder plus a folder of untouched photos, fresh pairs from the background loader, the
pixel AUC curve live, and a model the viewer can load."""

from __future__ import annotations

from pathlib import Path

import test_training_wizard as tw
from localiser_helpers import made_up_photos, wait_for_fresh_items
from PySide6.QtWidgets import QWizard

from forensic_viewer.core.paths import user_models_dir
from forensic_viewer.ml.localiser_predict import load_localiser
from forensic_viewer.ui.training.wizard import RESULTS_PAGE, SETTINGS_PAGE, TRAIN_PAGE

# The wizard tests' fixtures: the tiny labelled folder and a wizard shut down after the test.
open_wizard = tw.open_wizard
tiny = tw.tiny


def test_wizard_trains_the_localiser_with_fresh_pairs_and_the_pixel_curve(
    qtbot, open_wizard, tiny, tmp_path, monkeypatch
):
    wait_for_fresh_items(monkeypatch)
    photos = made_up_photos(tmp_path / "photos")
    wizard = open_wizard(tiny)
    tw.wait_discovered(qtbot, wizard)
    wizard.next()
    assert wizard.currentId() == SETTINGS_PAGE
    page = wizard.settings_page
    page.recipe.setCurrentIndex(page.recipe.findData("localiser"))
    assert page.photos.isEnabled() and page.lr.text() == "0.002"
    page.photos.setText(str(photos))
    page.epochs.setValue(2)
    page.batch_size.setValue(4)
    wizard.next()
    assert wizard.currentId() == TRAIN_PAGE
    train = wizard.train_page
    qtbot.waitUntil(lambda: not train.running, timeout=3 * tw.TRAIN_TIMEOUT_MS)
    assert train.error is None, train.error
    finished = train.finished
    assert finished is not None and not finished.cancelled
    assert len(finished.history) == 2
    sources = finished.card.training["sources"]
    assert sources["loader"] == "stream" and sources["synthetic"]["train_photos"] >= 1
    # The pixel metric is plotted per epoch, exactly as the trainer reported it.
    plots = train.plots
    assert plots.pixel_epochs == [e["epoch"] for e in finished.history]
    assert plots.pixel_auc == [e["val_pixel_auc"] for e in finished.history]
    assert "pixel AUC" in train.log.toPlainText()
    fresh = sum(e["fresh_items"] for e in finished.history)
    assert fresh > 0 and "freshly generated in the background" in train.log.toPlainText()

    wizard.next()
    assert wizard.currentId() == RESULTS_PAGE
    results = wizard.results_page
    results.name_edit.setText("my-localiser")
    results.confirm_weak_model = lambda: True
    with qtbot.waitSignal(wizard.modelReady, timeout=30_000) as ready:
        wizard.button(QWizard.WizardButton.FinishButton).click()
    path = Path(ready.args[0])
    assert path == user_models_dir() / "my-localiser.safetensors"
    loaded = load_localiser(path)
    assert loaded.card.architecture == "BlockLocaliser"
    assert "--loader stream" in loaded.card.reproduce
