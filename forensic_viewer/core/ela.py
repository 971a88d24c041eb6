"""Error Level Analysis, exact to the classic Pillow recipe and close to the codec's speed limit.

The classic recipe (Krawetz; the Keras notebook this project ports)::

    original = Image.open(p).convert("RGB")
    original.save(buf, "JPEG", quality=q)            # Pillow defaults: 4:2:0, standard tables
    diff = ImageChops.difference(original, Image.open(buf))
    max_diff = max(band_max for each band) or 1
    ImageEnhance.Brightness(diff).enhance(255 / max_diff)

Brightness with a factor > 1 computes ``float32(factor) * v``, clips at 255 and truncates, so a
256-entry lookup table reproduces it exactly.

Besides that exact classic scale, ``scale="percentile"`` maps the 99.5th percentile of the
differences to white instead of the largest one: on a camera photo a few outlier pixels (a
specular highlight, a saturated edge) set ``max_diff``, and the classic rendering is then nearly
black (gains of x9-11 where the bulk of the differences is a few levels). The percentile scale
saturates the brightest 0.5% and shows the rest.

Fast path: OpenCV's ``imencode`` writes byte-identical JPEGs to Pillow's encoder (same libjpeg-turbo
settings) and simplejpeg decodes to Pillow's pixels; both release the GIL, so horizontal strips are
processed on all cores. Strip boundaries are multiples of 16 rows (one 4:2:0 MCU row) and each
strip is encoded with 16 extra rows above and below, so the decoder's fancy chroma upsampling sees
the same neighbours as in a whole-image encode: the result is bit-identical (tested on CASIA).
Without those libraries the pure-Pillow path gives the same pixels, slower.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageChops

try:  # optional accelerators; the Pillow path is always available
    import cv2
    import simplejpeg

    FAST_PATH_AVAILABLE = True
except ImportError:  # pragma: no cover - exercised by forcing backend="pillow"
    cv2 = None
    simplejpeg = None
    FAST_PATH_AVAILABLE = False

Backend = Literal["auto", "fast", "pillow"]
Scale = Literal["auto", "percentile"] | float
"""'auto': the classic 255 / max_diff; 'percentile': 255 / the AUTO_PERCENTILE-th percentile;
a number: a manual gain."""

AUTO_PERCENTILE = 99.5

CLASSIC_QUALITY = 90
MCU_ROWS = 16
_STRIP_MIN_ROWS = 256
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(
            max_workers=max(1, os.cpu_count() or 1), thread_name_prefix="ela"
        )
    return _POOL


@dataclass(frozen=True)
class ElaResult:
    diff: np.ndarray
    """Raw |original - resaved| per pixel and channel, uint8 H x W x 3."""
    rendering: np.ndarray
    """The display image: uint8 H x W x 3 (or H x W when grayscale)."""
    quality: int
    max_diff: int
    """Largest difference over all channels (the classic recipe's ``max_diff``; at least 1)."""
    gain: float
    """Brightness factor applied: 255 / max_diff with the classic auto scale, 255 / the 99.5th
    percentile with ``scale="percentile"``, else the manual gain."""
    seconds: float


def brightness_lut(gain: float) -> np.ndarray:
    """The table Pillow's ``ImageEnhance.Brightness(gain)`` applies to a black-based blend."""
    values = np.float32(gain) * np.arange(256, dtype=np.float32)
    return np.where(values >= 255.0, 255, np.maximum(values, 0)).astype(np.uint8)


def auto_gain(max_diff: int) -> float:
    return 255.0 / (max_diff if max_diff > 0 else 1)


def histogram(array: np.ndarray) -> np.ndarray:
    """Counts of the values 0..255 over every pixel and channel of a uint8 array."""
    if cv2 is not None and array.size and array.flags.c_contiguous:
        # one 2-D view of every value (no copy): ~5x faster than np.bincount on 12 MP x 3
        flat = array.reshape(array.shape[0], -1)
        counts = cv2.calcHist([flat], [0], None, [256], [0, 256])
        return np.asarray(counts, dtype=np.int64).ravel()
    return np.bincount(array.ravel(), minlength=256)


def percentile_level(array: np.ndarray, percent: float = AUTO_PERCENTILE) -> int:
    """The smallest value v with at least ``percent``% of the values <= v (no interpolation)."""
    counts = histogram(array)
    total = int(counts.sum())
    if total == 0:
        return 0
    needed = total * percent / 100.0
    return int(np.searchsorted(np.cumsum(counts), needed, side="left"))


def render(
    diff: np.ndarray, scale: Scale = "auto", grayscale: bool = False, max_diff: int | None = None
) -> tuple[np.ndarray, float]:
    """Scale a raw difference for display; returns (rendering, gain). Cheap: a lookup table.

    Grayscale shows the largest difference of the three channels, so no channel's error is lost.
    The percentile scale is measured on what is shown (the channels, or their maximum in gray).
    """
    source = _shown(diff, grayscale)
    gain = scale_gain(source, scale, max_diff)
    return _apply_lut(source, brightness_lut(gain)), gain


def _shown(diff: np.ndarray, grayscale: bool) -> np.ndarray:
    if grayscale and diff.ndim == 3:
        # Three 2-D maximum passes are ~20x faster than a reduction over the last axis.
        return np.maximum(np.maximum(diff[:, :, 0], diff[:, :, 1]), diff[:, :, 2])
    return diff


def scale_gain(
    diff: np.ndarray, scale: Scale = "auto", max_diff: int | None = None, grayscale: bool = False
) -> float:
    """The brightness factor ``render`` applies, without rendering (e.g. to render a reduced
    copy at the full image's gain). ``grayscale`` takes the channels' maximum first."""
    if scale == "percentile":
        return auto_gain(percentile_level(_shown(diff, grayscale)))
    if scale == "auto":
        if max_diff is None:
            max_diff = int(diff.max()) if diff.size else 0
        return auto_gain(max_diff)
    return float(scale)


def _apply_lut(array: np.ndarray, lut: np.ndarray) -> np.ndarray:
    if cv2 is not None and array.size:
        return cv2.LUT(array, lut)
    return lut[array]


def _prepare(image: np.ndarray | Image.Image) -> np.ndarray:
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"ELA needs an RGB uint8 H x W x 3 array, got {array.dtype} {array.shape}")
    return np.ascontiguousarray(array)


def _check_quality(quality: int) -> int:
    quality = int(quality)
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be between 1 and 100, got {quality}")
    return quality


def resave_pillow(rgb: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip through Pillow's JPEG codec with its defaults (the classic recipe)."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as resaved:
        return np.asarray(resaved.convert("RGB"))


def _diff_pillow(rgb: np.ndarray, quality: int) -> np.ndarray:
    original = Image.fromarray(rgb)
    resaved = Image.fromarray(resave_pillow(rgb, quality))
    return np.asarray(ImageChops.difference(original, resaved))


def _diff_strip_fast(
    rgb: np.ndarray, quality: int, start: int, stop: int, out: np.ndarray | None = None
) -> np.ndarray:
    """|rgb - JPEG(rgb)| for rows start:stop, written into ``out[start:stop]`` when given."""
    lo = max(0, start - MCU_ROWS)
    hi = min(rgb.shape[0], stop + MCU_ROWS)
    bgr = cv2.cvtColor(rgb[lo:hi], cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV reports failure only on invalid input
        raise RuntimeError("OpenCV could not encode the JPEG")
    decoded = simplejpeg.decode_jpeg(
        encoded.tobytes(), colorspace="RGB", fastdct=False, fastupsample=False
    )
    target = None if out is None else out[start:stop]
    result = cv2.absdiff(rgb[start:stop], decoded[start - lo : stop - lo], dst=target)
    if target is not None and not np.shares_memory(result, target):
        target[...] = result  # OpenCV allocated a new array instead of writing into the view
    return result


def strip_bounds(height: int, strips: int) -> list[tuple[int, int]]:
    """Split rows into ``strips`` ranges whose inner boundaries are multiples of 16."""
    if strips <= 1 or height < 2 * _STRIP_MIN_ROWS:
        return [(0, height)]
    step = -(-height // strips)
    step = -(-step // MCU_ROWS) * MCU_ROWS
    bounds = list(range(0, height, step)) + [height]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _diff_fast(rgb: np.ndarray, quality: int, workers: int) -> np.ndarray:
    bounds = strip_bounds(rgb.shape[0], workers)
    if len(bounds) == 1:
        return _diff_strip_fast(rgb, quality, 0, rgb.shape[0])
    out = np.empty_like(rgb)  # each strip writes its rows: no concatenation copy
    list(_pool().map(lambda b: _diff_strip_fast(rgb, quality, *b, out=out), bounds))
    return out


def ela_difference(
    image: np.ndarray | Image.Image,
    quality: int = CLASSIC_QUALITY,
    backend: Backend = "auto",
    workers: int | None = None,
) -> np.ndarray:
    """|image - JPEG(image, quality)| per pixel, uint8 H x W x 3 (the expensive part of ELA)."""
    rgb = _prepare(image)
    quality = _check_quality(quality)
    use_fast = backend == "fast" or (backend == "auto" and FAST_PATH_AVAILABLE)
    if use_fast and not FAST_PATH_AVAILABLE:
        raise RuntimeError("fast ELA backend needs opencv-python-headless and simplejpeg")
    if not use_fast:
        return _diff_pillow(rgb, quality)
    return _diff_fast(rgb, quality, workers or os.cpu_count() or 1)


def ela(
    image: np.ndarray | Image.Image,
    quality: int = CLASSIC_QUALITY,
    scale: Scale = "auto",
    grayscale: bool = False,
    backend: Backend = "auto",
    workers: int | None = None,
) -> ElaResult:
    """Error Level Analysis of an RGB image at JPEG ``quality``.

    ``scale="auto"`` is the classic brightness 255 / max_diff; ``"percentile"`` is 255 / the
    99.5th percentile of the differences; a number is a manual gain.
    """
    started = time.perf_counter()
    diff = ela_difference(image, quality, backend=backend, workers=workers)
    max_diff = int(diff.max()) if diff.size else 0
    rendering, gain = render(diff, scale, grayscale, max_diff)
    return ElaResult(
        diff=diff,
        rendering=rendering,
        quality=_check_quality(quality),
        max_diff=max(max_diff, 1),
        gain=gain,
        seconds=time.perf_counter() - started,
    )


def ela_sweep(
    image: np.ndarray | Image.Image,
    qualities: Iterable[int],
    scale: Scale = "auto",
    grayscale: bool = False,
    backend: Backend = "auto",
) -> dict[int, ElaResult]:
    """ELA at several qualities sharing one decoded original (for the quality grid)."""
    rgb = _prepare(image)
    return {
        q: ela(rgb, q, scale=scale, grayscale=grayscale, backend=backend)
        for q in dict.fromkeys(_check_quality(q) for q in qualities)
    }


def classic_ela_pillow(path_or_image, quality: int = CLASSIC_QUALITY) -> Image.Image:
    """The classic recipe verbatim (reference for tests and benchmarks; slow, in memory)."""
    from PIL import ImageEnhance

    original = (
        path_or_image.convert("RGB")
        if isinstance(path_or_image, Image.Image)
        else Image.open(path_or_image).convert("RGB")
    )
    buffer = io.BytesIO()
    original.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    resaved = Image.open(buffer)
    diff = ImageChops.difference(original, resaved)
    extrema = diff.getextrema()
    max_diff = max(ex[1] for ex in extrema) or 1
    return ImageEnhance.Brightness(diff).enhance(255.0 / max_diff)
