"""ELA exactness against Pillow's classic recipe, on real CASIA photos and odd synthetic sizes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import casia_files, needs_casia
from PIL import Image

from forensic_viewer.core import ela as ela_module
from forensic_viewer.core.ela import (
    brightness_lut,
    classic_ela_pillow,
    ela,
    ela_difference,
    ela_sweep,
    render,
    strip_bounds,
)
from forensic_viewer.core.images import load_image


def classic(rgb: np.ndarray, quality: int) -> np.ndarray:
    return np.asarray(classic_ela_pillow(Image.fromarray(rgb), quality))


@needs_casia
@pytest.mark.parametrize("quality", [75, 90, 95])
def test_parity_with_classic_recipe_on_every_casia_jpeg(quality):
    files = casia_files()
    assert len(files) > 1000
    mismatched = []
    for path in files:
        ours = ela(load_image(path).pixels, quality).rendering
        reference = np.asarray(classic_ela_pillow(path, quality))
        if not np.array_equal(ours, reference):
            mismatched.append((path.name, int((ours != reference).sum())))
    assert mismatched == []


@needs_casia
def test_pillow_fallback_equals_fast_path():
    for path in casia_files(step=97):
        rgb = load_image(path).pixels
        fast = ela(rgb, 90, backend="fast")
        slow = ela(rgb, 90, backend="pillow")
        assert np.array_equal(fast.diff, slow.diff)
        assert np.array_equal(fast.rendering, slow.rendering)


@pytest.mark.parametrize("shape", [(1, 1), (13, 7), (7, 13), (600, 5), (17, 1000)])
def test_parity_on_odd_sizes(shape):
    rng = np.random.default_rng(sum(shape))
    rgb = rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    for quality in (75, 90, 95):
        assert np.array_equal(ela(rgb, quality).rendering, classic(rgb, quality))


@needs_casia
def test_parity_on_large_photo_with_strips():
    # 4001 x 3001: odd sizes and several 16-row strips processed on separate threads.
    photo = Image.open(casia_files("tampered")[3]).convert("RGB")
    big = np.asarray(photo.resize((4001, 3001), Image.BICUBIC))
    assert len(strip_bounds(big.shape[0], 2)) == 2
    ours = ela(big, 90, workers=2)
    assert np.array_equal(ours.rendering, classic(big, 90))


def test_parity_on_many_strips_of_smooth_content():
    yy, xx = np.mgrid[0:1203, 0:517]
    rgb = np.stack([(xx * 3) % 256, (yy * 2) % 256, (xx + yy) % 256], axis=2).astype(np.uint8)
    for workers in (1, 2, 3, 5):
        assert np.array_equal(ela(rgb, 85, workers=workers).rendering, classic(rgb, 85))


@needs_casia
def test_grayscale_source_matches_classic():
    gray = Image.open(casia_files("authentic")[0]).convert("L")
    rgb = np.asarray(gray.convert("RGB"))
    assert np.array_equal(ela(rgb, 90).rendering, classic(rgb, 90))
    two_d = np.asarray(gray)
    assert np.array_equal(ela(two_d, 90).rendering, classic(rgb, 90))


def test_strip_bounds_are_multiples_of_16_and_cover_all_rows():
    for height in (1, 300, 511, 512, 513, 3000, 3001):
        for strips in (1, 2, 3, 7):
            bounds = strip_bounds(height, strips)
            assert bounds[0][0] == 0 and bounds[-1][1] == height
            for (_, stop), (start, _) in zip(bounds[:-1], bounds[1:], strict=True):
                assert stop == start and start % 16 == 0


def test_brightness_lut_is_pillow_brightness():
    from PIL import ImageEnhance

    ramp = Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16))
    for gain in (1.0, 255 / 7, 255 / 13, 3.3, 17.0, 255.0, 0.5):
        expected = np.asarray(ImageEnhance.Brightness(ramp).enhance(gain)).ravel()
        assert np.array_equal(brightness_lut(gain), expected), gain


def test_auto_scale_treats_zero_max_diff_as_one():
    flat = np.zeros((16, 16, 3), dtype=np.uint8)
    result = ela(flat, 90)
    assert result.max_diff == 1 and result.gain == 255.0
    assert not result.rendering.any()


def test_manual_gain_and_grayscale():
    diff = np.array([[[0, 5, 10], [100, 2, 1]]], dtype=np.uint8)
    rendering, gain = render(diff, scale=3.0)
    assert gain == 3.0
    assert rendering.tolist() == [[[0, 15, 30], [255, 6, 3]]]
    gray, _ = render(diff, scale=2.0, grayscale=True)
    assert gray.tolist() == [[20, 200]]
    auto, gain = render(diff)
    assert gain == pytest.approx(2.55)
    assert auto[0, 0].tolist() == [0, 12, 25]  # float32(2.55) * 5 = 12.75 truncates to 12


def test_sweep_matches_single_calls_and_dedupes():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8)
    sweep = ela_sweep(rgb, [60, 90, 60, 100])
    assert list(sweep) == [60, 90, 100]
    for quality, result in sweep.items():
        assert np.array_equal(result.rendering, ela(rgb, quality).rendering)


def test_invalid_arguments():
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    for bad in (0, 101, -5):
        with pytest.raises(ValueError, match="between 1 and 100"):
            ela_difference(rgb, bad)
    with pytest.raises(ValueError, match="RGB uint8"):
        ela(np.zeros((8, 8, 4), dtype=np.uint8))


def test_fast_path_is_in_use():
    assert ela_module.FAST_PATH_AVAILABLE
