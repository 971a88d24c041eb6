"""The wizard's clarity (issue 12, item 20): the best recipe by default, recipe names for people,
and a warning before 'Use this model' when validation is too small or the result near chance."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from PySide6.QtWidgets import QWizard

from forensic_viewer.ui.training import results
from forensic_viewer.ui.training.results import result_warnings
from forensic_viewer.ui.training.settings import RECIPE_TEXT, RECOMMENDED_DEFAULTS
from forensic_viewer.ui.training.wizard import RESULTS_PAGE, TrainingWizard


def validation(count: int, authentic: int, accuracy: float, auc: float | None) -> dict:
    return {
        "count": count,
        "per_class": {"authentic": authentic, "tampered": count - authentic},
        "accuracy": accuracy,
        "balanced_accuracy": accuracy,
        "roc_auc": auc,
        "confusion_matrix": [[authentic, 0], [0, count - authentic]],
    }


def test_wilson_interval():
    assert results.wilson_interval(0.5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert results.wilson_interval(1.0, 8) == pytest.approx((0.6756, 1.0), abs=1e-4)


def test_a_small_near_chance_run_gets_both_warnings():
    said = result_warnings(validation(12, 6, 0.583, 0.58))
    assert said == [
        "Only 12 validation images (6 authentic, 6 tampered): too few to measure the model. "
        "The accuracy's 95% interval is 32% to 81%. Use a larger folder or a larger "
        "validation share (at least 50 images, 20 of each class).",
        "ROC AUC 0.58 is near chance (0.5 is guessing): this model barely tells tampered from "
        "authentic images. Its verdicts would mislead.",
    ]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (validation(287, 127, 0.997, 0.9994), 0),  # the shipped default model's validation
        (validation(287, 127, 0.81, 0.78), 0),  # the classic recipe: weak but not chance
        (validation(60, 10, 0.9, 0.95), 1),  # only 10 authentic
        (validation(287, 127, 0.55, 0.6), 1),
        (validation(100, 100, 1.0, None), 2),  # one class only: no AUC, none tampered
    ],
)
def test_warnings_appear_only_when_deserved(case, expected):
    assert len(result_warnings(case)) == expected


def test_recipes_have_names_for_people_and_the_best_comes_first(qtbot):
    wizard = TrainingWizard()
    qtbot.addWidget(wizard)
    combo = wizard.settings_page.recipe
    names = [combo.itemText(i) for i in range(combo.count())]
    assert names[0] == "JPEG ghost tiles (recommended)"
    assert combo.currentData() == "ghost" == RECOMMENDED_DEFAULTS["recipe"]
    assert not set(names) & set(RECIPE_TEXT)  # no raw keys
    assert "(--recipe ghost)" in wizard.settings_page.recipe_hint.text()
    assert wizard.pool.shutdown(5_000)


def test_use_this_model_asks_first_when_the_result_is_weak(qtbot, monkeypatch, tmp_path):
    wizard = TrainingWizard()
    qtbot.addWidget(wizard)
    finished = SimpleNamespace(
        metrics={"validation": validation(12, 6, 0.583, 0.58), "epochs_run": 3, "seconds": 9},
        best_epoch=2,
        cancelled=True,
    )
    wizard.train_page.finished = finished
    wizard.train_page.settings = {"recipe": "ghost"}
    saved = []

    def fake_save(done, path: Path) -> Path:
        saved.append(done)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"weights")
        return path

    monkeypatch.setattr(results, "save_finished", fake_save)
    wizard.show()
    wizard.setStartId(RESULTS_PAGE)
    wizard.restart()
    page = wizard.results_page
    assert wizard.currentId() == RESULTS_PAGE
    assert page.caution.isVisible() and "near chance" in page.caution.text()
    assert "Only 12 validation images" in page.caution.text()
    asked = []
    page.confirm_weak_model = lambda: asked.append(1) or False
    finish = wizard.button(QWizard.WizardButton.FinishButton)
    finish.click()
    assert asked == [1] and saved == [] and wizard.isVisible()
    page.confirm_weak_model = lambda: asked.append(2) or True
    with qtbot.waitSignal(wizard.modelReady, timeout=10_000):
        finish.click()
    assert asked == [1, 2] and saved == [finished]  # asked once, not again on the save's accept
    qtbot.waitUntil(lambda: not wizard.isVisible(), timeout=5_000)
    assert wizard.pool.shutdown(5_000)
