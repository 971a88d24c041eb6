"""JPEG quality estimation from quantization tables."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import casia_files, needs_casia
from PIL import Image

from forensic_viewer.core.jpeg import STD_LUMINANCE, estimate_quality, ijg_table


def pillow_tables(quality: int, subsampling: int = 2) -> dict:
    buffer = io.BytesIO()
    rng = np.random.default_rng(quality)
    pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality, subsampling=subsampling)
    return Image.open(buffer).quantization


@pytest.mark.parametrize("quality", list(range(1, 101)))
def test_exact_quality_for_pillow_saves(quality):
    estimate = estimate_quality(pillow_tables(quality))
    # Qualities 1-3 (and 98-100 at the other end) can share tables once values clip at 1 or 255,
    # so check the tables the estimate names are the ones in the file.
    assert estimate.standard
    assert np.array_equal(
        ijg_table(STD_LUMINANCE, estimate.quality), ijg_table(STD_LUMINANCE, quality)
    )
    if 4 <= quality <= 97:
        assert estimate.quality == quality


def test_ijg_known_values():
    assert ijg_table(STD_LUMINANCE, 50).tolist() == STD_LUMINANCE.tolist()
    assert ijg_table(STD_LUMINANCE, 100).tolist() == [1] * 64
    assert ijg_table(STD_LUMINANCE, 75)[0] == 8  # (16 * 50 + 50) // 100


def test_non_standard_tables_report_closest():
    tables = pillow_tables(80)
    tampered = {k: list(v) for k, v in tables.items()}
    tampered[0][5] += 3
    estimate = estimate_quality(tampered)
    assert not estimate.standard and estimate.quality == 80
    assert "non-standard" in estimate.describe() and "80" in estimate.describe()


def test_no_tables():
    assert estimate_quality({}) is None


@needs_casia
def test_casia_quality_estimates_are_plausible():
    estimates = [estimate_quality(Image.open(p).quantization) for p in casia_files(step=37)]
    assert all(e is not None and 50 <= e.quality <= 100 for e in estimates)
