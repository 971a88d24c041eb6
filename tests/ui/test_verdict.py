"""The verdict in the window: computed in a worker, drawn on the badge, stale results dropped.

Models are tiny random-weight networks saved to temporary model files (never into models/);
every verdict is compared with ``Predictor.predict`` run outside the window.
"""
# ruff: noqa: F811 - pytest fixtures imported from uihelp are parameters of the tests

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from uihelp import (
    VerdictGate,
    images,  # noqa: F401
    photo,
    reference_prediction,
    save_tiny_model,
    wait_idle,
    window,  # noqa: F401
    write_jpeg,
)

from forensic_viewer.ml import modelformat
from forensic_viewer.ml.verdict import HEADLINES
from forensic_viewer.ui.network.verdict_badge import COLOURS
from forensic_viewer.ui.viewer.filmstrip import filmstrip_verdict


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {
        "tiles": save_tiny_model(
            folder / "tiny-tiles",
            "tiles",
            seed=1,
            metrics={"validation": {"accuracy": 0.875, "roc_auc": 0.9312, "count": 64}},
            reproduce="forensic-viewer train /data --recipe ghost",
        ),
        "other": save_tiny_model(folder / "tiny-other", "tiles", seed=2),
        "resize": save_tiny_model(folder / "tiny-resize", "resize", seed=3),
    }


def label_text(prediction) -> str:
    """The badge's headline for a prediction: the state in words, never a percentage."""
    return HEADLINES[prediction.verdict.state]


def test_worker_delivers_the_verdict_to_the_badge(qtbot, window, images, models):
    window.choose_model(models["tiles"])
    assert window.verdicts.state == "loading"  # in a worker: the window goes on
    with qtbot.waitSignal(window.verdicts.verdictReady, timeout=30_000) as ready:
        window.open_paths([images[0]])
    doc = ready.args[0]
    assert doc is window.session.current
    expected = reference_prediction(models["tiles"], images[0])
    assert doc.verdict.p_tampered == expected.p_tampered  # exactly Predictor.predict
    assert doc.verdict.state == expected.verdict.state
    assert doc.verdict.model_name == "tiny-tiles" and doc.verdict.exact
    assert doc.verdict.tiles == 15  # 96 x 64 pixels, 32 px tiles every 16 px: 5 x 3
    badge = window.badge
    assert badge.state == "result" and badge.isVisible()
    assert badge.text.text() == label_text(expected)
    assert COLOURS[expected.verdict.state] in badge.text.styleSheet()
    numbers = expected.verdict.numbers()  # "P(tampered) 0.xx < threshold 0.50 (model tiny-tiles)"
    assert badge.numbers.text() == numbers.replace(" (model tiny-tiles)", " · model tiny-tiles")
    assert "%" not in badge.numbers.text() + badge.text.text()
    tip = badge.toolTip().splitlines()
    assert tip[0] == "Model: tiny-tiles"
    assert f"Why: {expected.verdict.reason}" in tip
    assert "validated domain: not declared by this card" in tip
    assert "validation accuracy 87.5%, ROC AUC 0.931 on 64 validation images" in tip
    assert "not proof" in tip[-1]
    wait_idle(qtbot, window)
    assert window.verdicts.state == "ready"


def test_spinner_while_running_and_each_image_first_when_shown(
    qtbot, window, images, models, monkeypatch
):
    gate = VerdictGate(monkeypatch)
    window.choose_model(models["tiles"])
    window.open_paths(images)
    gate.wait_entered(qtbot)
    first = window.session.documents[0]
    assert window.session.current is first
    assert window.badge.state == "running" and window.badge.spinner.isVisible()
    assert window.badge.text.text() == "Analysing..."
    assert first.verdict is None and not window.is_idle()
    qtbot.wait(50)
    assert window.badge.state == "running"  # the window is not blocked meanwhile
    gate.release()
    wait_idle(qtbot, window)
    # the shown image first, then the others in opening order
    assert gate.calls == [d.id for d in window.session.documents]
    for doc, path in zip(window.session.documents, images, strict=True):
        assert doc.verdict.p_tampered == reference_prediction(models["tiles"], path).p_tampered


def test_result_for_an_image_left_behind_goes_to_the_filmstrip_not_the_badge(
    qtbot, window, images, models, monkeypatch
):
    gate = VerdictGate(monkeypatch)
    window.choose_model(models["tiles"])
    window.open_paths(images[:2])
    gate.wait_entered(qtbot)
    qtbot.waitUntil(lambda: len(window.session.documents) == 2, timeout=10_000)
    first, second = window.session.documents
    shown_texts = []
    window.verdicts.verdictReady.connect(
        lambda doc: shown_texts.append((doc.id, window.badge.text.text()))
    )
    window.session.set_current(second)  # the user moves on while the first is computing
    assert window.badge.state == "running"
    gate.release()
    wait_idle(qtbot, window)
    expected_first = reference_prediction(models["tiles"], images[0])
    expected_second = reference_prediction(models["tiles"], images[1])
    assert first.verdict.p_tampered == expected_first.p_tampered
    assert window.filmstrip.item_for(first.id).text().splitlines()[-1] == filmstrip_verdict(
        first.verdict
    )
    assert filmstrip_verdict(first.verdict).endswith(f"{expected_first.p_tampered:.2f}")
    # when the first image's verdict arrived, the badge (showing the second) did not take it
    assert shown_texts[0] == (first.id, "Analysing...")
    assert window.badge.text.text() == label_text(expected_second)


def test_stale_verdict_of_a_replaced_model_is_dropped(qtbot, window, images, models, monkeypatch):
    gate = VerdictGate(monkeypatch)
    window.choose_model(models["tiles"])
    window.open_paths([images[0]])
    gate.wait_entered(qtbot)
    doc = window.session.documents[0]
    delivered = []
    window.verdicts.verdictReady.connect(lambda d: delivered.append(d.verdict))
    window.choose_model(models["other"])  # while tiny-tiles is computing
    assert doc.verdict is None and window.badge.state == "running"
    gate.release()
    wait_idle(qtbot, window)
    assert window.verdicts.model_generation.dropped == 1  # the finished old result
    assert [v.model_name for v in delivered] == ["tiny-other"]
    expected = reference_prediction(models["other"], images[0])
    assert doc.verdict.p_tampered == expected.p_tampered
    assert window.badge.text.text() == label_text(expected)
    assert window.badge.toolTip().startswith("Model: tiny-other")


def test_no_model_badge_and_a_broken_model_file(qtbot, window, images, tmp_path):
    window.open_paths([images[0]])
    wait_idle(qtbot, window)
    badge = window.badge
    assert window.verdicts.state == "none"
    assert badge.state == "no_model" and badge.text.text() == "No model loaded"
    assert badge.train_button.isVisible() and badge.load_button.isVisible()
    assert window.session.current.verdict is None
    assert window.network.model_label.text().startswith("No model")

    broken = tmp_path / "models" / "broken.safetensors"
    broken.parent.mkdir()
    good = save_tiny_model(tmp_path / "models" / "good")
    broken.write_bytes(good.read_bytes()[:5000])  # truncated copy
    window.model_menu.load_model_file(broken)
    wait_idle(qtbot, window)
    assert window.verdicts.state == "error"
    assert badge.state == "no_model" and badge.text.text() == "Model not usable"
    assert window.session.current.verdict is None
    message = window.messages.messages[-1]
    assert message.startswith("Model not usable: ") and "broken.safetensors" in message
    assert "truncated" in message
    assert window.app_settings.model_path() is None  # a failed model is not remembered

    pickle = tmp_path / "models" / "evil.pt"
    pickle.write_bytes(b"\x80\x04K\x01.")
    window.model_menu.load_model_file(pickle)
    wait_idle(qtbot, window)
    assert "only loads .safetensors" in window.messages.messages[-1]
    assert badge.state == "no_model"


def test_report_contains_the_verdict_block(qtbot, window, images, models, tmp_path):
    window.choose_model(models["tiles"])
    window.open_paths([images[1]])
    wait_idle(qtbot, window)
    out = window.actions.export("report", tmp_path / "out" / "report.json")
    report = json.loads(out.read_text(encoding="utf-8"))
    card = modelformat.read_card(models["tiles"])[0]
    expected = reference_prediction(models["tiles"], images[1])
    verdict = report["verdict"]
    assert verdict["model"] == "tiny-tiles"
    assert verdict["weights_sha256"] == card["weights_sha256"] and len(card["weights_sha256"]) == 64
    assert verdict["p_tampered"] == expected.p_tampered
    assert verdict["threshold"] == card["threshold"] == 0.5
    assert verdict["verdict"] == expected.verdict.state
    assert verdict["reason"] == expected.verdict.reason
    assert verdict["model_file"] == str(models["tiles"])
    # 112 x 64 pixels, 32 px tiles every 16 px: 6 x 3 tiles, the recipe's own stride
    assert (verdict["tiles"], verdict["tile_stride"], verdict["recipe_stride_used"]) == (
        18,
        16,
        True,
    )


def test_big_images_are_scored_on_a_bounded_number_of_tiles(qtbot, window, tmp_path, models):
    from forensic_viewer.core.images import load_image
    from forensic_viewer.ml.predict import Predictor
    from forensic_viewer.ml.preprocess import aggregate_tiles

    big = write_jpeg(tmp_path / "evidence" / "big.jpg", photo(480, 320, seed=7), quality=90)
    window.verdicts.max_tiles = 40
    window.choose_model(models["tiles"])
    window.open_paths([big])
    wait_idle(qtbot, window)
    verdict = window.session.current.verdict
    predictor = Predictor(models["tiles"])
    pixels = load_image(big).pixels
    stride = predictor.stride_for(320, 480, 40)
    heat = predictor.heatmap(pixels, stride=stride)
    assert stride > 16 and heat.probs.size <= 40
    assert (verdict.tiles, verdict.tile_stride, verdict.exact) == (heat.probs.size, stride, False)
    expected = aggregate_tiles(heat.probs.ravel().astype(np.float64), "mean")
    assert verdict.p_tampered == pytest.approx(expected, abs=1e-12)
    assert "approximation" in window.badge.toolTip()


def test_every_open_image_gets_a_verdict_and_sorting_triage(qtbot, window, tmp_path, models):
    paths = [
        write_jpeg(tmp_path / "folder" / f"{i}.jpg", photo(80, 64, seed=10 + i), quality=70 + 7 * i)
        for i in range(4)
    ]
    window.choose_model(models["tiles"])
    window.open_paths([tmp_path / "folder"])
    wait_idle(qtbot, window)
    docs = window.session.documents
    expected = {d.id: reference_prediction(models["tiles"], d.path).p_tampered for d in docs}
    assert {d.id: d.verdict.p_tampered for d in docs} == expected
    assert len(set(expected.values())) == 4  # distinct, so the order below is meaningful
    assert window.network.progress.text() == ""  # nothing left to compute
    window.set_sort(True)
    assert window.filmstrip.doc_ids() == sorted(expected, key=lambda i: -expected[i])
    assert window.model_menu.sort.isChecked() and window.app_settings.sort_by_verdict()
    window.set_sort(False)
    assert window.filmstrip.doc_ids() == [d.id for d in docs]
    assert [d.path for d in docs] == paths


def test_a_cancelled_verdict_reports_nothing(qtbot, window, images, models, monkeypatch):
    gate = VerdictGate(monkeypatch, honour_cancel=True)
    window.choose_model(models["tiles"])
    window.open_paths([images[0]])
    gate.wait_entered(qtbot)
    window.choose_model(models["other"])  # cancels the running job
    gate.release()
    wait_idle(qtbot, window)
    doc = window.session.current
    assert window.verdicts.failures == {} and window.messages.messages == []
    assert window.verdicts.model_generation.dropped == 0  # stopped, not computed and dropped
    assert doc.verdict.model_name == "tiny-other"
    assert doc.verdict.p_tampered == reference_prediction(models["other"], images[0]).p_tampered


def test_images_evicted_from_memory_are_re_read_and_checked(qtbot, tmp_path, models, monkeypatch):
    from uihelp import hide_bundled_models

    from forensic_viewer.ui.viewer.document import PixelCache
    from forensic_viewer.ui.viewer.main_window import MainWindow

    hide_bundled_models(monkeypatch, tmp_path / "no-models")
    paths = [
        write_jpeg(tmp_path / "ev" / f"{i}.jpg", photo(64, 48, seed=30 + i), quality=75 + 5 * i)
        for i in range(4)
    ]
    window = MainWindow(cache=PixelCache(max_images=1))
    qtbot.addWidget(window)
    window.show()
    window.open_paths(paths)
    qtbot.waitUntil(lambda: len(window.session.documents) == 4, timeout=10_000)
    # the third file changes on disk after it was opened, before its verdict
    changed = paths[2]
    gate = VerdictGate(monkeypatch)
    window.choose_model(models["tiles"])
    gate.wait_entered(qtbot)
    write_jpeg(changed, photo(64, 48, seed=99), quality=60)
    gate.release()
    wait_idle(qtbot, window)
    docs = window.session.documents
    assert len(window.session.cache.image_ids()) == 1  # only the shown image stays in memory
    for doc, path in zip(docs, paths, strict=True):
        if path == changed:
            assert doc.verdict is None
            assert window.verdicts.failures[doc.id] == (
                "2.jpg: the file changed on disk since it was opened"
            )
        else:
            assert doc.verdict.p_tampered == reference_prediction(models["tiles"], path).p_tampered
    assert window.messages.messages == [
        "No verdict for 2.jpg: the file changed on disk since it was opened"
    ]
    window.session.set_current(docs[2])
    wait_idle(qtbot, window)
    assert window.badge.state == "unavailable"
    assert window.badge.text.text() == "No verdict for this image"
    window.close()


def test_verdict_text_is_the_state_never_a_percentage():
    from forensic_viewer.ui.viewer.document import Verdict, percent, verdict_text

    texts = [
        verdict_text(Verdict("tampered", 0.474, "m", 0.42)),
        verdict_text(Verdict("no_trace", 0.01, "m", 0.42)),
        verdict_text(Verdict("inconclusive", None, "m", 0.42, "not a JPEG (PNG)")),
    ]
    assert texts == ["Tampered", "No trace found", "Inconclusive"]
    # percent() still words the heatmap's range without claiming certainty
    assert [percent(p) for p in (0.9949, 0.9951, 1.0, 0.0051, 0.0049, 0.0)] == [
        "99%",
        ">99%",
        ">99%",
        "1%",
        "<1%",
        "<1%",
    ]


def test_png_and_out_of_domain_images_are_inconclusive_without_the_network(qtbot, window, tmp_path):
    from forensic_viewer.ui.network.verdict_badge import MEANING

    png = tmp_path / "shot.png"
    Image.fromarray(photo(seed=4)).save(png)
    jpeg = write_jpeg(tmp_path / "small.jpg", photo(seed=5))
    narrow = save_tiny_model(
        tmp_path / "models" / "narrow",
        domain={"last_save": {"standard": [1, 100]}, "sides": [500, 4000], "validated_on": "big"},
    )
    window.choose_model(narrow)
    window.network.heatmap.setChecked(True)
    window.open_paths([png, jpeg])
    wait_idle(qtbot, window)
    first, second = window.session.documents
    assert (first.verdict.state, first.verdict.p_tampered) == ("inconclusive", None)
    assert first.verdict.reason.startswith("not a JPEG (PNG): ")
    assert second.verdict.state == "inconclusive" and second.verdict.reason == (
        "outside what model narrow was validated on (big): 96x64 px, sides outside 500-4000 px"
    )
    for doc in (first, second):
        assert window.verdicts.outcome(doc).tiles == 0  # the network never ran
        assert window.verdicts.outcome(doc).heatmap is None
    window.session.set_current(second)
    wait_idle(qtbot, window)
    badge = window.badge
    assert (badge.text.text(), badge.numbers.text()) == (
        "Inconclusive",
        "outside what model narrow was validated on",
    )
    assert MEANING["inconclusive"] in badge.toolTip().splitlines()
    assert f"Why: {second.verdict.reason}" in badge.toolTip().splitlines()
    assert (
        "validated on (big): JPEG; 500-4000 px sides; last save standard tables q1-100"
        in badge.toolTip().splitlines()
    )
    assert window.heat_layer.overlay is None
    assert window.network.heat_info.text() == "no heatmap: the model was not run on this image"
    assert window.filmstrip.item_for(first.id).text().splitlines()[-1] == "? Inconclusive"
    out = window.actions.export("report", tmp_path / "out" / "report.json")
    verdict = json.loads(out.read_text(encoding="utf-8"))["verdict"]
    assert (verdict["verdict"], verdict["p_tampered"], verdict["tiles"]) == (
        "inconclusive",
        None,
        0,
    )
    assert verdict["reason"] == second.verdict.reason and verdict["model"] == "narrow"


def test_viewer_and_cli_share_the_verdict_tile_budget():
    from forensic_viewer.ml.predict import VERDICT_MAX_TILES
    from forensic_viewer.ui.network.verdict_jobs import DEFAULT_MAX_TILES

    assert DEFAULT_MAX_TILES == VERDICT_MAX_TILES


@pytest.mark.parametrize("pane_width", [900, 314])
def test_badge_stays_inside_a_narrow_pane_and_keeps_its_numbers(qtbot, pane_width):
    from PySide6.QtWidgets import QWidget

    from forensic_viewer.ml.verdict import Verdict
    from forensic_viewer.ui.network.verdict_badge import MARGIN, VerdictBadge

    pane = QWidget()
    pane.resize(pane_width, 400)
    qtbot.addWidget(pane)
    badge = VerdictBadge(pane)
    pane.show()
    verdict = Verdict("tampered", 0.9, "", "localiser-with-a-long-name", 0.85)
    badge.set_result(verdict)
    geometry = badge.geometry()
    assert geometry.left() >= 0 and geometry.right() < pane_width - MARGIN + 1
    assert "model localiser-with-a-long-name" in badge.numbers.text()
    assert badge.numbers.wordWrap() == (pane_width < 500)  # wraps only where it must
    assert badge.numbers.height() >= badge.numbers.sizeHint().height()  # wrapped lines shown
