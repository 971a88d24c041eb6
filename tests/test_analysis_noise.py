"""The noise analysis on made-up images with a known noise level per region."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from forensic_viewer.core.analyses import REGISTRY, run_analysis
from forensic_viewer.core.analyses.noise import block_noise, grouped_median, haar_bands
from forensic_viewer.core.images import load_image


def gradient_with_noise(sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    _, x = np.mgrid[0:256, 0:384]
    return 60 + 120 * (x / 384) + rng.normal(0, sigma, (256, 384))


def save(tmp_path, gray: np.ndarray, name: str = "image.png"):
    pixels = np.clip(np.round(gray), 0, 255).astype(np.uint8)
    Image.fromarray(np.stack([pixels] * 3, axis=-1)).save(tmp_path / name)
    return load_image(tmp_path / name)


def test_noisier_region_stands_out_at_its_place(tmp_path):
    gray = gradient_with_noise(2.0)
    rng = np.random.default_rng(1)
    gray[64:128, 192:288] += rng.normal(0, 8, (64, 96))  # 2 x 3 blocks of 32 px
    result = run_analysis(REGISTRY["noise"], save(tmp_path, gray))
    assert result.cell == 32 and result.image.shape == (8, 12)
    inside = np.zeros((8, 12), bool)
    inside[2:4, 6:9] = True
    # level map: every block of the region above every other block by a clear margin
    assert float(result.image[inside].min()) > 2.5 * float(result.image[~inside].max())
    region = result.data["regions"][0]
    assert (region["x"], region["y"], region["width"], region["height"]) == (192, 64, 96, 64)
    assert region["blocks"] == 6
    assert len(result.data["regions"]) == 1
    # sqrt(8^2 + 2^2 + rounding) / sqrt(2^2 + rounding): about 4
    assert 3.6 < region["noise_ratio"] < 4.4
    assert any(f.text.startswith("Region at x=192, y=64") for f in result.findings)
    deviation = run_analysis(REGISTRY["noise"], save(tmp_path, gray), {"show": "deviation"})
    assert np.array_equal(deviation.image >= 0.5, inside)


def test_uniform_noise_is_consistent_and_measured(tmp_path):
    result = run_analysis(REGISTRY["noise"], save(tmp_path, gradient_with_noise(3.0)))
    assert result.data["regions"] == []
    assert result.score < 0.12  # robust spread of log-ratios across 96 blocks
    # sigma 3 plus the rounding to integers (1/12 variance): 3.014
    assert abs(result.data["median_sigma"] - 3.014) < 0.15
    assert len(result.findings) == 1


def test_clipped_blocks_are_not_judged(tmp_path):
    gray = gradient_with_noise(2.0)
    gray[:, :64] = 255  # two block columns of pure white
    result = run_analysis(REGISTRY["noise"], save(tmp_path, gray), {"block": 32})
    assert result.data["invalid_blocks"] == 16
    assert result.data["regions"] == []


def test_haar_hh_keeps_sigma_and_block_grid():
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 5.0, (512, 512))
    hh, ll = haar_bands(noise)
    assert hh.shape == ll.shape == (256, 256)
    assert abs(hh.std() - 5.0) < 0.05
    sigma, brightness, valid = block_noise(np.full((40, 72), 100.0), 16)
    assert sigma.shape == (3, 5) and float(sigma.max()) == pytest.approx(0.25 / 0.6745 / 2)
    assert np.all(brightness == 100.0) and valid.all()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=60))
def test_grouped_median_stays_in_the_median_bin(values):
    halves = np.array(values, dtype=np.float64) / 2  # |HH| of 8-bit pixels: multiples of 0.5
    estimate = float(grouped_median(halves[None, :])[0])
    lower_median = float(np.sort(halves)[(len(halves) - 1) // 2])
    assert max(lower_median - 0.25, 0.0) <= estimate <= lower_median + 0.25
