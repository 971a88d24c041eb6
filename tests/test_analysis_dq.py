"""The double-compression analysis on made-up JPEGs with a known history."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from forensic_viewer.core.analyses import REGISTRY, AnalysisCancelled, run_analysis
from forensic_viewer.core.dq_maps import clipped_blocks, normal_cdf
from forensic_viewer.core.images import load_image
from forensic_viewer.core.jpeg_dct import DCT, ZIGZAG, block_dct, luma_plane, read_luma


def texture(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.normal(0, 1, (h, w, 3)).astype(np.float32), (0, 0), 3)
    base = base / base.std() * 40 + 128 + rng.normal(0, 3, (h, w, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


def jpeg_bytes(pixels: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def decoded(pixels: np.ndarray, quality: int) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg_bytes(pixels, quality))).convert("RGB"))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dq")
    original = texture(256, 384, 0)
    first = decoded(original, 60)
    spliced = first.copy()
    spliced[64:128, 128:192] = texture(64, 64, 1)  # never compressed: a single save at q90
    made = {
        "double": first,
        "single": original,
        "splice": spliced,
        "shifted": first[5:, 3:],  # the q60 grid now starts at row 3, column 5
    }
    paths = {}
    for name, pixels in made.items():
        paths[name] = folder / f"{name}.jpg"
        paths[name].write_bytes(jpeg_bytes(pixels, 90))
    Image.fromarray(original).save(folder / "plain.png")
    paths["png"] = folder / "plain.png"
    return paths


def run(path, **params):
    return run_analysis(REGISTRY["dq"], load_image(path), params)


def test_aligned_double_compression_is_detected_with_the_first_table(files):
    result = run(files["double"])
    assert result.cell == 8 and result.image.shape == (32, 48)
    assert result.score > 0.99
    assert float((result.image > 0.5).mean()) > 0.99  # at most 15 of 1536 blocks in doubt
    fits = result.data["aligned"]["modes"]
    assert [tuple(f["mode"]) for f in fits] == list(ZIGZAG[:6])
    # Pillow's quality-60 luminance table starts 13, 9, 10, 11, 10, 8 in zigzag order.
    assert [f["q1"] for f in fits] == [13, 9, 10, 11, 10, 8]
    assert all(f["informative"] for f in fits)
    assert result.findings[0].text.startswith("Aligned double compression")


def test_single_compression_is_not_detected(files):
    result = run(files["single"])
    assert result.score == 0.0
    assert float(result.image.max()) == 0.0
    assert not any(f["informative"] for f in result.data["aligned"]["modes"])
    assert not result.data["non_aligned"]["detected"]
    assert result.findings[0].text.startswith("No aligned double compression")


@pytest.mark.parametrize(
    ("window", "inside_below", "outside_above"), [(1, 0.5, 0.95), (3, 0.1, 0.97)]
)
def test_pasted_region_is_dark_in_the_aligned_map(files, window, inside_below, outside_above):
    probability = run(files["splice"], window=window).image
    inside = probability[8:16, 16:24]
    outside = probability.copy()
    outside[7:17, 15:25] = np.nan  # the pooled window reaches one block beyond the region
    assert float(inside.mean()) < inside_below
    assert float(np.nanmean(outside)) > outside_above


def test_non_aligned_grid_shift_is_found(files):
    result = run(files["shifted"], show="non-aligned")
    na = result.data["non_aligned"]
    assert na["detected"] is True
    assert na["shift_rows_cols"] == [3, 5]
    assert [m["q1"] for m in na["modes"]][:3] == [13, 9, 10]
    assert float(result.image.mean()) > 0.9
    assert result.score == 0.0  # nothing aligned: the earlier grid is off this one
    assert any(f.severity == "warning" and "shifted by (5, 3)" in f.text for f in result.findings)


def test_not_applicable_to_png_and_cancel(files):
    analysis = REGISTRY["dq"]
    assert "not a JPEG" in analysis.applies_to(load_image(files["png"]))
    with pytest.raises(AnalysisCancelled):
        analysis.run(load_image(files["double"]), {"modes": 6, "window": 3, "show": "aligned"},
                     lambda f: None, lambda: True)  # fmt: skip


def test_jpeg_dct_matches_jpeglib_and_inverts(files):
    luma = read_luma(files["single"])
    plane = luma_plane(luma)
    assert plane.shape == (256, 384)
    again = block_dct(plane) / luma.table
    np.testing.assert_allclose(again, luma.coefficients, atol=1e-3)
    np.testing.assert_allclose(DCT @ DCT.T, np.eye(8), atol=1e-12)
    assert ZIGZAG[:6] == ((0, 0), (0, 1), (1, 0), (2, 0), (1, 1), (0, 2))


def test_normal_cdf_and_clipped_blocks():
    np.testing.assert_allclose(normal_cdf(np.array([0.0, 1.0, -1.96])), [0.5, 0.841345, 0.024998],
                               atol=1e-6)  # fmt: skip
    pixels = np.full((20, 17, 3), 128, np.uint8)
    pixels[9, 16, 1] = 255
    pixels[0, 0, 2] = 0
    expected = np.zeros((3, 3), bool)
    expected[1, 2] = expected[0, 0] = True
    np.testing.assert_array_equal(clipped_blocks(pixels, (3, 3)), expected)
