"""The Model menu: the models found, switching and remembering, the card, loading and training."""
# ruff: noqa: F811 - pytest fixtures imported from uihelp are parameters of the tests

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QFileDialog
from uihelp import (
    hide_bundled_models,
    images,  # noqa: F401
    reference_prediction,
    save_tiny_model,
    wait_idle,
    window,  # noqa: F401
)

from forensic_viewer.core.paths import user_models_dir
from forensic_viewer.ml import modelformat
from forensic_viewer.ui.network import model_catalog
from forensic_viewer.ui.viewer.main_window import MainWindow

CARD_METRICS = {
    "validation": {
        "accuracy": 0.8125,
        "balanced_accuracy": 0.8,
        "roc_auc": 0.9012,
        "count": 80,
        "confusion_matrix": [[30, 10], [5, 35]],
        "threshold": 0.45,
    }
}


def model_names(window) -> list[str]:
    window.model_menu.rebuild()
    return [a.text() for a in window.model_menu.model_actions]


def test_catalog_finds_what_ml_list_models_finds(tmp_path, monkeypatch):
    from forensic_viewer.ml import modelfile

    bundled = tmp_path / "bundled"
    hide_bundled_models(monkeypatch, bundled)
    monkeypatch.setattr(modelfile, "bundled_models_dir", lambda: bundled)
    save_tiny_model(bundled / "default")
    save_tiny_model(user_models_dir() / "mine")
    save_tiny_model(user_models_dir() / ".hidden")
    (user_models_dir() / "no-card.safetensors").write_bytes(b"x")
    (user_models_dir() / "link.safetensors").symlink_to(bundled / "default.safetensors")
    found = model_catalog.find_models()
    assert found == modelfile.list_models()
    assert [p.name for p in found] == ["default.safetensors", "mine.safetensors"]
    assert model_catalog.default_model() == bundled / "default.safetensors"
    assert [model_catalog.origin(p) for p in found] == ["bundled", "yours"]


def test_menu_lists_models_and_switching_recomputes_and_is_remembered(
    qtbot, window, images, monkeypatch, tmp_path
):
    first = save_tiny_model(user_models_dir() / "alpha", seed=1)
    second = save_tiny_model(user_models_dir() / "beta", seed=2)
    menu = window.model_menu
    assert [a.text() for a in window.menuBar().actions()][-2:] == ["&Model", "&Help"]
    assert model_names(window) == ["alpha   (yours)", "beta   (yours)"]
    assert not any(a.isChecked() for a in menu.model_actions)  # no model active yet
    window.open_paths([images[0]])
    wait_idle(qtbot, window)
    menu.model_actions[0].trigger()
    wait_idle(qtbot, window)
    doc = window.session.current
    assert doc.verdict.model_name == "alpha"
    assert doc.verdict.p_tampered == reference_prediction(first, images[0]).p_tampered
    model_names(window)
    assert [a.isChecked() for a in menu.model_actions] == [True, False]
    menu.model_actions[1].trigger()
    wait_idle(qtbot, window)
    assert doc.verdict.model_name == "beta"
    assert doc.verdict.p_tampered == reference_prediction(second, images[0]).p_tampered
    assert window.badge.toolTip().startswith("Model: beta")
    assert window.network.model_label.text() == "Model: beta"
    assert window.app_settings.model_path() == str(second)
    window.close()
    # a new window starts with the remembered model
    again = MainWindow()
    qtbot.addWidget(again)
    assert again.verdicts.model_path == second and again.verdicts.card.name == "beta"
    assert again.verdicts.state == "unloaded"  # loaded by the first image or the warm-up
    again.close()


def test_model_card_dialog_shows_fields_metrics_recipe_and_reproduce(qtbot, window, tmp_path):
    path = save_tiny_model(
        tmp_path / "models" / "carded",
        metrics=CARD_METRICS,
        threshold=0.45,
        reproduce="forensic-viewer train /data/casia --recipe ghost --seed 3",
        notes="random weights, for the test",
    )
    window.model_menu.rebuild()
    assert not window.model_menu.show_card.isEnabled()
    window.model_menu.load_model_file(path)
    wait_idle(qtbot, window)
    window.model_menu.rebuild()
    assert window.model_menu.show_card.isEnabled()
    dialog = window.model_menu.show_model_card()  # owned by the window, deleted on close
    assert not dialog.isModal() and dialog.isVisible()
    text = dialog.browser.toPlainText()
    card = modelformat.read_card(path)[0]  # the card inside the model file
    for expected in (
        "carded",
        "ElaCnn v1",
        card["weights_sha256"],
        "Accuracy\n81.2%",
        "ROC AUC\n0.901",
        "Confusion matrix\nauthentic [30, 10], tampered [5, 35]",
        "forensic-viewer train /data/casia --recipe ghost --seed 3",
        "random weights, for the test",
        "Training data\nNot recorded.",
        "tiny-tiles recipe: ELA at q70/80/90 as channels, 32 px tiles every 16 px, mean of tiles",
        "validation accuracy 81.2%, ROC AUC 0.901 on 80 validation images",
        str(path),
    ):
        assert expected in text, expected
    dialog.close()


def test_load_model_file_dialog_takes_the_card_or_the_weights(qtbot, window, images, tmp_path):
    path = save_tiny_model(tmp_path / "elsewhere" / "picked", seed=5)
    chosen = str(path.with_suffix(".json"))
    asked = []

    def fake_dialog(parent, title, folder, filters):
        asked.append((title, filters))
        return chosen, ""

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(QFileDialog, "getOpenFileName", fake_dialog)
        window.open_paths([images[0]])
        wait_idle(qtbot, window)
        assert window.model_menu.load_model_file() == path
    wait_idle(qtbot, window)
    assert asked == [("Load model file", "Model files (*.safetensors *.json);;All files (*)")]
    assert window.session.current.verdict.model_name == "picked"
    assert "picked   (file)" in model_names(window)
    assert window.app_settings.last_dir("model") == str(path.parent)


def test_train_new_model_opens_the_wizard_and_uses_its_model(qtbot, window, images, tmp_path):
    wizard = window.model_menu.open_training_wizard()  # owned by the window
    from forensic_viewer.ui.training.wizard import TrainingWizard

    assert isinstance(wizard, TrainingWizard) and wizard.isVisible()
    trained = save_tiny_model(tmp_path / "trained" / "my-model", seed=6)
    window.open_paths([images[1]])
    wizard.modelReady.emit(str(trained))
    wait_idle(qtbot, window)
    assert window.verdicts.model_path == trained
    assert window.session.current.verdict.model_name == "my-model"
    wizard.close()


def test_train_without_the_wizard_module_says_so(qtbot, window, monkeypatch):
    import importlib

    real_import = importlib.import_module

    def no_wizard(name, *args):
        if name == "forensic_viewer.ui.training.wizard":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_wizard)
    assert window.model_menu.open_training_wizard() is None
    notice = window.model_menu.last_notice
    assert notice.isVisible() and not notice.isModal()
    assert "it is not part of this installation" in notice.text()
    notice.close()
    # the badge's Train... button takes the same path
    window.badge.set_no_model("No model loaded")
    window.badge.train_button.click()
    assert window.model_menu.last_notice is not notice
    window.model_menu.last_notice.close()


def test_the_shipped_default_is_used_and_warmed_up_after_start(
    qtbot, images, monkeypatch, tmp_path
):
    from forensic_viewer.ui.network import network_view

    bundled = hide_bundled_models(monkeypatch, tmp_path / "bundled")
    default = save_tiny_model(bundled / "default", seed=8)
    monkeypatch.setattr(network_view, "WARM_UP_MS", 20)
    window = MainWindow()
    qtbot.addWidget(window)
    assert window.verdicts.model_path == default and window.verdicts.state == "unloaded"
    assert window.badge.state == "clear"  # no image, nothing to say yet
    window.show()
    qtbot.waitUntil(lambda: window.verdicts.state == "ready", timeout=20_000)
    assert model_names(window) == ["default   (bundled)"]
    window.open_paths([images[0]])
    wait_idle(qtbot, window)
    expected = reference_prediction(default, images[0])
    assert window.session.current.verdict.p_tampered == expected.p_tampered
    window.close()
