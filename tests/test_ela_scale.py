"""The percentile auto scale beside the exact classic one (issue 12, item 18)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from forensic_viewer.cli import main
from forensic_viewer.core.ela import (
    AUTO_PERCENTILE,
    classic_ela_pillow,
    ela,
    histogram,
    percentile_level,
    render,
)
from forensic_viewer.ui.viewer.document import AUTO_PERCENTILE as UI_PERCENTILE


def camera_like_difference() -> np.ndarray:
    """Mostly small differences and a few outliers, as a camera photo's ELA has."""
    diff = np.zeros((100, 100, 3), np.uint8)
    diff[:, :, :] = np.arange(100, dtype=np.uint8)[:, None, None] % 6  # levels 0..5
    diff[0, :10, 0] = 60  # 10 outliers out of 30,000 values: 0.03%
    return diff


def test_percentile_scale_ignores_a_few_outliers():
    diff = camera_like_difference()
    classic, classic_gain = render(diff, "auto")
    shown, gain = render(diff, "percentile")
    assert classic_gain == 255 / 60 and gain == 255 / 5
    # the classic rendering of the bulk is dark (at most 21 of 255); the percentile one spans it
    assert int(classic[1:].max()) == 21 and int(shown[1:].max()) == 255
    assert int(shown[diff == 3].max()) == 153


@settings(max_examples=60, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 40), st.just(3))))
def test_percentile_level_is_numpys_inverted_cdf(diff):
    expected = np.percentile(diff, AUTO_PERCENTILE, method="inverted_cdf")
    assert percentile_level(diff) == int(expected)
    assert np.array_equal(histogram(diff), np.bincount(diff.ravel(), minlength=256))
    gray = np.ascontiguousarray(diff.max(axis=2))
    _, gain = render(diff, "percentile", grayscale=True)
    assert gain == 255 / max(int(np.percentile(gray, AUTO_PERCENTILE, method="inverted_cdf")), 1)


def test_a_non_contiguous_array_is_counted_too():
    diff = np.arange(256, dtype=np.uint8).repeat(6).reshape(32, 16, 3)[:, ::2]
    assert np.array_equal(histogram(diff), np.bincount(diff.ravel(), minlength=256))


def test_the_classic_scale_stays_exact():
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    reference = np.asarray(classic_ela_pillow(Image.fromarray(rgb), 90))
    assert np.array_equal(ela(rgb, 90, scale="auto").rendering, reference)
    assert not np.array_equal(ela(rgb, 90, scale="percentile").rendering, reference)


def test_the_window_repeats_the_core_percentile():
    assert UI_PERCENTILE == AUTO_PERCENTILE


@pytest.mark.parametrize("scale", ["auto", "percentile", "7.5"])
def test_cli_ela_scale(tmp_path, capsys, scale):
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    source, out = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(rgb).save(source)
    assert main(["ela", str(source), "--scale", scale, "-o", str(out)]) == 0
    expected = ela(rgb, 90, scale=float(scale) if scale[0].isdigit() else scale)
    assert f"gain={expected.gain:.3f}" in capsys.readouterr().out
    assert np.array_equal(np.asarray(Image.open(out)), expected.rendering)


def test_cli_refuses_an_unknown_scale(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(
            ["ela", str(tmp_path / "x.png"), "--scale", "brightest", "-o", str(tmp_path / "o.png")]
        )
    assert stop.value.code == 2
    assert "'auto', 'percentile' or a positive number" in capsys.readouterr().err
