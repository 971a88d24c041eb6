"""Noise analysis: a local noise-level map and how inconsistent it is across the image.

Estimator: the finest diagonal wavelet band (orthonormal Haar HH) of the luminance, whose
coefficients are mostly sensor noise in flat areas, and per block the robust standard deviation
``median(|HH|) / 0.6745`` (Donoho & Johnstone 1994; the per-block use after Mahdian & Saic 2009).

Noise depends on brightness (shot noise; dark and clipped areas are cleaner), so a block is judged
against the level expected for its brightness: the median log-sigma of all blocks in its brightness
bin (interpolated between bins). The deviation of a block is its log-ratio to that model in units of
the image's robust spread (1.4826 x MAD of the log-ratios). The image's *inconsistency* is that
spread; a region pasted from a noisier or cleaner camera is a connected group of outlying blocks.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..images import LoadedImage
from . import register
from .base import AnalysisResult, Cancelled, Finding, Param, Progress, check_cancel

MAD_TO_SIGMA = 1.0 / 0.6745  # MAD of a zero-mean Gaussian is 0.6745 sigma
BRIGHTNESS_BINS = 16
MIN_BIN_BLOCKS = 5
# A block is an outlier when its noise is off the model by this many robust deviations *and* by
# at least this factor (so a very consistent image does not flag 10 % differences).
OUTLIER_Z = 3.0
OUTLIER_FACTOR = 1.5
SATURATED_SHARE = 0.5  # blocks mostly clipped to black or white carry no noise to measure

BLOCK = Param(
    "block", "Block size", "int", 32, minimum=8, maximum=256,
    help="Side of the square block (pixels) one noise estimate is made from; rounded to even.",
)  # fmt: skip
SHOW = Param(
    "show", "Show", "choice", "level", choices=("level", "deviation"),
    help="level: the noise sigma per block; deviation: how far each block's noise is from the "
    "level expected for its brightness (robust z-score, 0..6 mapped to 0..1).",
)  # fmt: skip


def luminance(pixels: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma as float32 (the Y a JPEG encoder would compute)."""
    rgb = pixels.astype(np.float32)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def haar_bands(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(HH, LL) of one orthonormal Haar level over the even-sized top-left part of ``gray``.

    HH = (a - b - c + d) / 2 keeps the noise's sigma; LL here is the 2x2 mean (brightness).
    """
    h, w = gray.shape[0] // 2 * 2, gray.shape[1] // 2 * 2
    a = gray[0:h:2, 0:w:2]
    b = gray[0:h:2, 1:w:2]
    c = gray[1:h:2, 0:w:2]
    d = gray[1:h:2, 1:w:2]
    return (a - b - c + d) * 0.5, (a + b + c + d) * 0.25


def _blocks(array: np.ndarray, side: int, rows: int, cols: int) -> np.ndarray:
    """``array`` cut into rows x cols blocks of side x side, edge blocks filled by mirroring."""
    pad_r, pad_c = rows * side - array.shape[0], cols * side - array.shape[1]
    if pad_r or pad_c:
        array = np.pad(array, ((0, pad_r), (0, pad_c)), mode="symmetric")
    return array.reshape(rows, side, cols, side).swapaxes(1, 2).reshape(rows, cols, side * side)


def grouped_median(values: np.ndarray, step: float = 0.5) -> np.ndarray:
    """Median over the last axis of values on a ``step`` lattice (|HH| of 8-bit pixels is a
    multiple of 0.5), interpolated within the median's quantization bin as for grouped data.

    A plain median of such values jumps in steps of 0.5 (0.74 sigma at sigma 2), which would hide
    real differences between blocks and make the spread collapse to 0.
    """
    n = values.shape[-1]
    middle = np.partition(values, (n - 1) // 2, axis=-1)[..., (n - 1) // 2]
    below = (values < middle[..., None]).sum(axis=-1)
    at = (values == middle[..., None]).sum(axis=-1)
    lower = np.maximum(middle - step / 2, 0.0)  # |HH| = 0 stands for [0, step/2)
    width = middle + step / 2 - lower
    return lower + (n / 2.0 - below) / np.maximum(at, 1) * width


def block_noise(gray: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block of ``block`` pixels: (sigma, brightness, valid) over ceil(H/block) x ceil(W/block).

    ``valid`` is False where most pixels are clipped (<= 2 or >= 253): no noise survives there.
    """
    block = max(2, block // 2 * 2)
    rows, cols = math.ceil(gray.shape[0] / block), math.ceil(gray.shape[1] / block)
    hh, ll = haar_bands(gray)
    half = block // 2
    sigma = grouped_median(np.abs(_blocks(hh, half, rows, cols))) * MAD_TO_SIGMA
    means = _blocks(ll, half, rows, cols)
    brightness = means.mean(axis=2)
    clipped = ((means <= 2.0) | (means >= 253.0)).mean(axis=2)
    return sigma.astype(np.float32), brightness.astype(np.float32), clipped < SATURATED_SHARE


def brightness_model(sigma: np.ndarray, brightness: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Expected log-sigma for each block's brightness: the median per brightness bin, interpolated.

    Bins with fewer than MIN_BIN_BLOCKS valid blocks are skipped; with no usable bin, the global
    median of the valid blocks (or 0) is the model everywhere.
    """
    logs = np.log(np.maximum(sigma, 1e-3))
    edges = np.linspace(0.0, 256.0, BRIGHTNESS_BINS + 1)
    centres, levels = [], []
    which = np.clip(np.digitize(brightness, edges) - 1, 0, BRIGHTNESS_BINS - 1)
    for index in range(BRIGHTNESS_BINS):
        members = logs[valid & (which == index)]
        if members.size >= MIN_BIN_BLOCKS:
            centres.append(float(brightness[valid & (which == index)].mean()))
            levels.append(float(np.median(members)))
    if not centres:
        fallback = float(np.median(logs[valid])) if valid.any() else 0.0
        return np.full(sigma.shape, fallback, dtype=np.float32)
    return np.interp(brightness, centres, levels).astype(np.float32)


def deviations(
    sigma: np.ndarray, brightness: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """(log-ratio to the brightness model, robust z-score, robust spread) per block.

    Invalid blocks get a log-ratio and z of 0. The spread has a floor of 0.01 so a perfectly flat
    synthetic image does not divide by zero.
    """
    ratio = np.log(np.maximum(sigma, 1e-3)) - brightness_model(sigma, brightness, valid)
    ratio = np.where(valid, ratio, 0.0).astype(np.float32)
    if valid.sum() < 2:
        return ratio, np.zeros_like(ratio), 0.0
    centre = float(np.median(ratio[valid]))
    spread = 1.4826 * float(np.median(np.abs(ratio[valid] - centre)))
    z = np.where(valid, (ratio - centre) / max(spread, 0.01), 0.0).astype(np.float32)
    return ratio - np.float32(centre), z, spread


def outlier_regions(ratio: np.ndarray, z: np.ndarray, block: int) -> list[dict]:
    """Connected groups of outlying blocks, largest first, as image-pixel boxes."""
    outliers = (np.abs(z) > OUTLIER_Z) & (np.abs(ratio) > math.log(OUTLIER_FACTOR))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        outliers.astype(np.uint8), connectivity=8
    )
    regions = []
    for label in range(1, count):
        x, y, w, h, n = (int(v) for v in stats[label])
        members = labels == label
        regions.append(
            {
                "x": x * block,
                "y": y * block,
                "width": w * block,
                "height": h * block,
                "blocks": n,
                "noise_ratio": round(float(np.exp(np.median(ratio[members]))), 4),
            }
        )
    regions.sort(key=lambda r: -r["blocks"])
    return regions


class NoiseAnalysis:
    name = "noise"
    title = "Noise"
    help = (
        "The sensor noise left in each block (Haar wavelet residual, robust MAD estimate), "
        "bright where noisier. Every camera and ISO leaves its own level, so a region pasted "
        "from another photo can stand out as a patch noisier or cleaner than areas of the same "
        "brightness around it; 'deviation' shows exactly that, and the findings name such "
        "regions. Failure modes: texture (foliage, text, fabric) reads as noise, so busy areas "
        "light up innocently; strong JPEG compression, denoising or resizing flattens the noise "
        "everywhere, and a donor from a camera with similar noise leaves no trace."
    )
    params = (BLOCK, SHOW)

    def applies_to(self, image: LoadedImage) -> str | None:
        if min(image.pixels.shape[:2]) < 16:
            return "smaller than 16 pixels"
        return None

    def run(
        self, image: LoadedImage, params: dict, progress: Progress, cancel: Cancelled
    ) -> AnalysisResult:
        block = max(8, int(params["block"]) // 2 * 2)
        check_cancel(cancel)
        gray = luminance(image.pixels)
        progress(0.2)
        check_cancel(cancel)
        sigma, brightness, valid = block_noise(gray, block)
        progress(0.7)
        check_cancel(cancel)
        ratio, z, spread = deviations(sigma, brightness, valid)
        regions = outlier_regions(ratio, z, block)
        outlier_share = sum(r["blocks"] for r in regions) / max(1, int(valid.sum()))
        typical = float(np.median(sigma[valid])) if valid.any() else 0.0
        findings = [
            Finding(
                f"Typical noise sigma {typical:.2f} (8-bit levels); spread across blocks of equal "
                f"brightness x{math.exp(spread):.2f} (robust, log-normal)."
            )
        ]
        for region in regions[:3]:
            if region["blocks"] < 4:
                break
            kind = "noisier" if region["noise_ratio"] > 1 else "cleaner"
            findings.append(
                Finding(
                    f"Region at x={region['x']}, y={region['y']} ({region['width']}x"
                    f"{region['height']} px, {region['blocks']} blocks) is {kind} than expected "
                    f"for its brightness (x{region['noise_ratio']:.2f}).",
                    "warning" if region["blocks"] >= 8 else "notice",
                )
            )
        if not valid.all():
            findings.append(
                Finding(f"{int((~valid).sum())} mostly clipped (black/white) blocks not judged.")
            )
        if params["show"] == "deviation":
            shown = np.clip(np.abs(z) / 6.0, 0.0, 1.0)
        else:
            top = float(np.percentile(sigma[valid], 99)) if valid.any() else 0.0
            shown = np.clip(sigma / top, 0.0, 1.0) if top > 0 else np.zeros_like(sigma)
        progress(1.0)
        return AnalysisResult(
            image=shown.astype(np.float32),
            cell=block,
            score=round(spread, 6),
            findings=findings,
            data={
                "score_meaning": "robust spread (1.4826 x MAD) of per-block log(noise / level "
                "expected for its brightness); 0 = perfectly consistent",
                "block": block,
                "median_sigma": round(typical, 6),
                "outlier_share": round(outlier_share, 6),
                "regions": regions[:10],
                "invalid_blocks": int((~valid).sum()),
            },
        )


register(NoiseAnalysis())
