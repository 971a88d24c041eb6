"""The heatmap overlay: per-tile P(tampered) over the original, oriented, coloured, with opacity."""
# ruff: noqa: F811 - pytest fixtures imported from uihelp are parameters of the tests

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from uihelp import images, photo, save_tiny_model, wait_idle, window, write_jpeg  # noqa: F401

from forensic_viewer.core.images import load_image, orient
from forensic_viewer.ui.network.heatmap import heat_lut
from forensic_viewer.ui.network.verdict_jobs import colour_heatmap, make_overlay, sampled_heatmap
from forensic_viewer.ui.viewer.document import percent


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {
        "tiles": save_tiny_model(folder / "tiny-tiles", "tiles", seed=1, threshold=0.4),
        "resize": save_tiny_model(folder / "tiny-resize", "resize", seed=3),
    }


def reference_heatmap(model_path, image_path, **kwargs):
    from forensic_viewer.ml.predict import Predictor

    return Predictor(model_path).heatmap(load_image(image_path).pixels, **kwargs)


def test_toggle_draws_the_oriented_heatmap_over_the_original(qtbot, window, tmp_path, models):
    # stored 96 x 64, EXIF orientation 6: shown as 64 x 96
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    rotated = write_jpeg(tmp_path / "evidence" / "rotated.jpg", photo(96, 64, seed=4), exif=exif)
    window.choose_model(models["tiles"])
    window.open_paths([rotated])
    wait_idle(qtbot, window)
    layer = window.heat_layer
    assert window.session.current.orientation == 6
    assert not layer.item.isVisible() and layer.overlay is None
    window.set_heatmap(True)
    wait_idle(qtbot, window)
    overlay = layer.overlay
    assert overlay is not None and layer.item.isVisible()
    assert overlay.rgba.shape == (96, 64, 4) and overlay.size == (64, 96) and overlay.step == 1
    assert window.views.original.image.image.shape[:2] == (96, 64)  # the same grid as the photo
    heat = reference_heatmap(models["tiles"], rotated)
    expected = colour_heatmap(orient(heat.upsample(), 6), heat_lut())
    np.testing.assert_array_equal(layer.item.image, expected)
    rect = layer.item.mapRectToParent(layer.item.boundingRect())
    assert (rect.width(), rect.height()) == (64.0, 96.0)
    assert window.network.heat_info.text() == (
        f"15 tiles of 32 px every 16 px; P(tampered) {percent(heat.probs.min())} to "
        f"{percent(heat.probs.max())}"
    )
    assert window.network.legend.threshold == 0.4  # the model card's threshold is marked
    assert window.network.legend.isVisible()
    # opacity slider
    window.network.opacity.setValue(25)
    assert math.isclose(layer.item.opacity(), 0.25)
    assert math.isclose(window.app_settings.heatmap_opacity(), 0.25)
    # off hides it; the shortcut's menu action follows
    window.model_menu.heatmap.trigger()
    assert not layer.item.isVisible() and not window.network.heatmap.isChecked()
    assert not window.app_settings.heatmap_on()


def test_heatmap_follows_the_image_shown(qtbot, window, images, models):
    window.choose_model(models["tiles"])
    window.set_heatmap(True)
    window.open_paths(images)
    wait_idle(qtbot, window)
    for doc, path in zip(window.session.documents, images, strict=True):
        window.session.set_current(doc)
        wait_idle(qtbot, window)
        w, h = doc.display_size
        assert window.heat_layer.overlay.doc_id == doc.id
        assert window.heat_layer.item.image.shape == (h, w, 4)
        heat = reference_heatmap(models["tiles"], path)
        np.testing.assert_array_equal(
            window.heat_layer.item.image, colour_heatmap(heat.upsample(), heat_lut())
        )


def test_resize_model_computes_its_heatmap_only_when_asked(qtbot, window, images, models):
    window.choose_model(models["resize"])
    window.open_paths([images[2]])
    wait_idle(qtbot, window)
    doc = window.session.current
    assert window.verdicts.outcome(doc).heatmap is None  # one resized input, no tiles yet
    window.set_heatmap(True)
    wait_idle(qtbot, window)
    heat = window.verdicts.outcome(doc).heatmap
    expected = reference_heatmap(models["resize"], images[2], max_tiles=160)
    np.testing.assert_array_equal(heat.probs, expected.probs)
    assert window.heat_layer.item.image.shape == (64, 128, 4)


def test_big_heatmaps_are_sampled_without_a_full_size_array():
    from forensic_viewer.ml.predict import TileHeatmap
    from forensic_viewer.ml.preprocess import tile_origins

    height, width = 1000, 1500
    origins = tile_origins(height, width, 128, 64)
    rows = len({y for y, _ in origins})
    rng = np.random.default_rng(0)
    heat = TileHeatmap(
        probs=rng.random(len(origins), dtype=np.float32).reshape(rows, -1),
        origins=origins,
        tile=128,
        stride=64,
        image_shape=(height, width),
    )
    values, step = sampled_heatmap(heat, max_pixels=200_000)
    assert step == 3
    np.testing.assert_array_equal(values, heat.upsample()[::3, ::3])
    overlay = make_overlay(7, heat, 8, heat_lut())
    assert overlay.size == (1000, 1500) and overlay.step == 1
    assert overlay.rgba.shape == (1500, 1000, 4)
    np.testing.assert_array_equal(
        overlay.rgba, colour_heatmap(orient(heat.upsample(), 8), heat_lut())
    )


def test_screenshot_of_the_heatmap_view_waits_for_verdict_and_overlay(
    qtbot, images, tmp_path, monkeypatch
):
    import sys

    from uihelp import hide_bundled_models, png_pixels

    from forensic_viewer.ui.app import run_gui
    from forensic_viewer.ui.settings import AppSettings

    bundled = hide_bundled_models(monkeypatch, tmp_path / "bundled")
    save_tiny_model(bundled / "default", seed=2)
    hook_before = sys.excepthook
    out = tmp_path / "shots" / "heat.png"
    from forensic_viewer.ui import app as app_module

    real_save = app_module.save_screenshot
    grabbed = []

    def spy(window, path):
        grabbed.append((window.badge.state, window.heat_layer.overlay is not None))
        return real_save(window, path)

    monkeypatch.setattr(app_module, "save_screenshot", spy)
    assert run_gui([str(images[0])], screenshot=str(out), view="heatmap") == 0
    assert grabbed == [("result", True)]  # grabbed only once the verdict and heatmap were in
    assert png_pixels(out).shape[:2] == (760, 1440)
    assert not AppSettings().heatmap_on()  # a screenshot run does not change the user's choice
    assert sys.excepthook is hook_before  # the GUI's hook is removed when it returns


def test_a_block_map_is_described_as_blocks_not_overlapping_tiles(qtbot):
    from forensic_viewer.ui.network.heatmap import NetworkPanel
    from forensic_viewer.ui.network.verdict_jobs import HeatOverlay

    panel = NetworkPanel(heat_lut())
    qtbot.addWidget(panel)
    rgba = np.zeros((256, 384, 4), np.uint8)
    blocks = HeatOverlay(1, rgba, (384, 256), 1, 1536, 8, 8, 0.012, 0.95)
    panel.describe_overlay(blocks)
    assert (
        panel.heat_info.text() == "1,536 blocks of 8 x 8 px, one value each; P(tampered) 1% to 95%"
    )
    tiles = HeatOverlay(1, rgba, (384, 256), 1, 15, 16, 32, 0.2, 0.2)
    panel.describe_overlay(tiles)
    assert panel.heat_info.text() == "15 tiles of 32 px every 16 px; P(tampered) 20% on every tile"
