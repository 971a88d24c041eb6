"""What a JPEG says about its own compression: quality estimate, subsampling, progressive.

The quality estimate inverts the IJG scaling of the standard (Annex K) tables, which is what
libjpeg, Pillow, OpenCV and most cameras' firmware libraries use. Tables that match no IJG quality
(Photoshop, many phones) are reported as non-standard with the closest quality.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Annex K tables, natural (row-major) order, as Pillow reports ``Image.quantization``.
STD_LUMINANCE = np.array(
    [
        16, 11, 10, 16, 24, 40, 51, 61,
        12, 12, 14, 19, 26, 58, 60, 55,
        14, 13, 16, 24, 40, 57, 69, 56,
        14, 17, 22, 29, 51, 87, 80, 62,
        18, 22, 37, 56, 68, 109, 103, 77,
        24, 35, 55, 64, 81, 104, 113, 92,
        49, 64, 78, 87, 103, 121, 120, 101,
        72, 92, 95, 98, 112, 100, 103, 99,
    ],
    dtype=np.int64,
)  # fmt: skip
STD_CHROMINANCE = np.array(
    [
        17, 18, 24, 47, 99, 99, 99, 99,
        18, 21, 26, 66, 99, 99, 99, 99,
        24, 26, 56, 99, 99, 99, 99, 99,
        47, 66, 99, 99, 99, 99, 99, 99,
        99, 99, 99, 99, 99, 99, 99, 99,
        99, 99, 99, 99, 99, 99, 99, 99,
        99, 99, 99, 99, 99, 99, 99, 99,
        99, 99, 99, 99, 99, 99, 99, 99,
    ],
    dtype=np.int64,
)  # fmt: skip

SUBSAMPLING_NAMES = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}


def ijg_table(base: np.ndarray, quality: int) -> np.ndarray:
    """The table libjpeg's ``jpeg_set_quality(quality, force_baseline=TRUE)`` writes."""
    quality = min(max(int(quality), 1), 100)
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((base * scale + 50) // 100, 1, 255)


_IJG_LUMA = np.stack([ijg_table(STD_LUMINANCE, q) for q in range(1, 101)])
_IJG_CHROMA = np.stack([ijg_table(STD_CHROMINANCE, q) for q in range(1, 101)])


@dataclass(frozen=True)
class QualityEstimate:
    quality: int
    """The IJG quality whose tables match exactly, or the closest one when ``standard`` is False."""
    standard: bool
    """True when every table equals an IJG-scaled standard table at ``quality``."""
    error: float
    """Mean absolute difference per coefficient to the closest IJG tables (0 when standard)."""

    def describe(self) -> str:
        if self.standard:
            return f"{self.quality} (standard IJG tables)"
        return f"non-standard tables, closest to quality {self.quality}"


def estimate_quality(tables: dict[int, list[int]] | list[list[int]]) -> QualityEstimate | None:
    """Estimate the IJG quality from quantization tables in natural order (None if no tables)."""
    items = list(tables.values()) if isinstance(tables, dict) else list(tables)
    if not items:
        return None
    luma = np.asarray(items[0], dtype=np.int64)
    chroma = [np.asarray(t, dtype=np.int64) for t in items[1:]]
    if luma.size != 64 or any(t.size != 64 for t in chroma):
        return None
    cost = np.abs(_IJG_LUMA - luma).sum(axis=1).astype(np.float64)
    n = 64
    for table in chroma:
        cost += np.abs(_IJG_CHROMA - table).sum(axis=1)
        n += 64
    best = int(np.argmin(cost))
    return QualityEstimate(quality=best + 1, standard=bool(cost[best] == 0), error=cost[best] / n)


@dataclass(frozen=True)
class JpegFacts:
    quantization: dict[int, tuple[int, ...]]
    subsampling: str
    progressive: bool
    quality: QualityEstimate | None

    def as_dict(self) -> dict:
        return {
            "quality": None if self.quality is None else self.quality.quality,
            "quality_standard_tables": None if self.quality is None else self.quality.standard,
            "quality_description": None if self.quality is None else self.quality.describe(),
            "subsampling": self.subsampling,
            "progressive": self.progressive,
            "quantization_tables": {str(k): list(v) for k, v in self.quantization.items()},
        }


def jpeg_facts_from_pillow(image) -> JpegFacts | None:
    """Read the compression facts of an open Pillow JPEG (None for other formats).

    "MPO" is Pillow's name for a JPEG with an MPF index (iPhone gain maps, depth maps): its
    primary image is an ordinary JPEG with the same tables and sampling."""
    if getattr(image, "format", None) not in ("JPEG", "MPO"):
        return None
    from PIL import JpegImagePlugin

    tables = {int(k): tuple(int(x) for x in v) for k, v in (image.quantization or {}).items()}
    sampling = JpegImagePlugin.get_sampling(image)
    if sampling in SUBSAMPLING_NAMES:
        subsampling = SUBSAMPLING_NAMES[sampling]
    elif image.mode in ("L", "1"):
        subsampling = "none (grayscale)"
    else:
        subsampling = "other"
    progressive = bool(image.info.get("progressive") or image.info.get("progression"))
    return JpegFacts(tables, subsampling, progressive, estimate_quality(tables))
