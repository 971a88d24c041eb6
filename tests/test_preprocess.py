"""Network inputs: the classic recipe exactly, and tiles on the JPEG block grid."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from conftest import casia_files, needs_casia
from PIL import Image, ImageChops, ImageEnhance

from forensic_viewer.ml.preprocess import (
    CLASSIC,
    GHOST,
    TILES,
    Recipe,
    aggregate_tiles,
    classic_input,
    cut_tiles,
    ela_rendering,
    tile_origins,
)


def straightforward_classic_input(path) -> tuple[np.ndarray, Image.Image]:
    """The Keras notebook's recipe written out with Pillow only (independent of core.ela)."""
    original = Image.open(path).convert("RGB")
    buffer = io.BytesIO()
    original.save(buffer, "JPEG", quality=90)
    buffer.seek(0)
    resaved = Image.open(buffer)
    diff = ImageChops.difference(original, resaved)
    max_diff = max(high for _, high in diff.getextrema()) or 1
    bright = ImageEnhance.Brightness(diff).enhance(255.0 / max_diff)
    resized = bright.resize((128, 128), Image.BICUBIC)
    return np.asarray(resized, dtype=np.float32).transpose(2, 0, 1) / 255.0, bright


@needs_casia
@pytest.mark.parametrize("path", casia_files(step=97), ids=lambda p: p.name)
def test_classic_input_equals_the_straightforward_recipe_on_casia(path):
    expected, expected_rendering = straightforward_classic_input(path)
    rgb = np.asarray(Image.open(path).convert("RGB"))
    assert np.array_equal(ela_rendering(rgb, CLASSIC), np.asarray(expected_rendering))
    actual = classic_input(rgb, CLASSIC)
    assert actual.shape == (3, 128, 128)
    assert actual.dtype == np.float32
    assert np.abs(actual - expected).max() == 0.0


def test_classic_input_on_a_synthetic_png(tmp_path):
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "noise.png")
    expected, _ = straightforward_classic_input(tmp_path / "noise.png")
    assert np.abs(classic_input(rgb) - expected).max() == 0.0
    assert classic_input(rgb).max() <= 1.0


def test_recipes_round_trip_through_dicts():
    assert Recipe.from_dict(TILES.as_dict()) == TILES
    assert Recipe.from_dict({**CLASSIC.as_dict(), "future_field": 1}) == CLASSIC
    assert CLASSIC.as_dict() == {
        "name": "classic",
        "quality": 90,
        "size": 128,
        "resize_filter": "bicubic",
        "mode": "resize",
        "tile_stride": 64,
        "aggregate": "top2mean",
        "channels": "rgb",
        "qualities": (),
        "gain": 0.0,
        "tile_labels": "mask",
    }
    assert Recipe.from_dict(json.loads(json.dumps(GHOST.as_dict()))) == GHOST


@pytest.mark.parametrize(
    ("shape", "size", "stride", "ys", "xs"),
    [
        ((256, 384), 128, 64, [0, 64, 128], [0, 64, 128, 192, 256]),
        ((256, 384), 128, 128, [0, 128], [0, 128, 256]),
        ((128, 128), 128, 64, [0], [0]),
        ((100, 50), 128, 64, [0], [0]),
        ((300, 129), 128, 64, [0, 64, 128, 168], [0]),
        ((300, 140), 128, 64, [0, 64, 128, 168], [0, 8]),
    ],
)
def test_tile_origins_exact(shape, size, stride, ys, xs):
    origins = tile_origins(*shape, size, stride)
    assert origins == [(y, x) for y in ys for x in xs]
    assert all(y % 8 == 0 and x % 8 == 0 for y, x in origins)


def test_cut_tiles_exact_content_and_order():
    rendering = (np.arange(136 * 140 * 3) % 251).astype(np.uint8).reshape(136, 140, 3)
    tiles, origins = cut_tiles(rendering, 128, 64)
    assert origins == [(0, 0), (0, 8), (8, 0), (8, 8)]
    assert tiles.shape == (4, 3, 128, 128)
    assert tiles.dtype == np.float32
    for tile, (y, x) in zip(tiles, origins, strict=True):
        expected = rendering[y : y + 128, x : x + 128].transpose(2, 0, 1).astype(np.float32) / 255
        assert np.array_equal(tile, expected)


def test_cut_tiles_pads_a_small_image_with_zeros():
    rendering = np.full((50, 70, 3), 255, dtype=np.uint8)
    tiles, origins = cut_tiles(rendering, 128, 64)
    assert origins == [(0, 0)]
    assert tiles.shape == (1, 3, 128, 128)
    assert np.all(tiles[0, :, :50, :70] == 1.0)
    assert tiles[0].sum() == 3 * 50 * 70  # everything outside the image is zero


def test_aggregate_tiles_exact():
    scores = np.array([0.25, 0.75, 0.5, 0.125])
    assert aggregate_tiles(scores, "max") == 0.75
    assert aggregate_tiles(scores, "mean") == 0.40625
    assert aggregate_tiles(scores, "top2mean") == 0.625
    assert aggregate_tiles(np.array([0.375]), "top2mean") == 0.375
    assert aggregate_tiles(np.array([]), "max") == 0.0
    with pytest.raises(ValueError, match="median"):
        aggregate_tiles(scores, "median")
