"""The EXIF thumbnail (IFD1's embedded JPEG) and how well the image still matches it.

A camera writes the thumbnail from the same picture as the main image. Editors that do not rewrite
it leave the *original* scene in the thumbnail, so a region that differs shows an edit after
capture. The image is brought to the thumbnail's size with its aspect handled three ways (stretched
to fill, letterboxed inside black bars, centre-cropped to fill) and turned by 0 / 90 / 270 degrees;
the variant with the smallest difference is the one compared.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import ExifTags, Image

IFD1 = ExifTags.IFD.IFD1  # Pillow names IFD1 (the thumbnail directory) -1
THUMB_OFFSET, THUMB_LENGTH = 0x0201, 0x0202
BAR_LEVEL = 24  # brightest value of a letterbox bar (black, after the thumbnail's compression)


def exif_thumbnail_bytes(path: str | Path) -> bytes | None:
    """The embedded EXIF thumbnail JPEG of ``path``, or None when it has none."""
    try:
        with Image.open(path) as image:  # Pillow opens read-only and reads the header only
            raw = image.info.get("exif")
            exif = image.getexif()
            ifd1 = exif.get_ifd(IFD1)
    except Exception:  # noqa: BLE001 - a malformed EXIF block means no usable thumbnail
        return None
    if not raw or THUMB_OFFSET not in ifd1 or THUMB_LENGTH not in ifd1:
        return None
    tiff = raw[6:] if raw.startswith(b"Exif\x00\x00") else raw  # offsets count from the TIFF header
    try:
        start, length = int(ifd1[THUMB_OFFSET]), int(ifd1[THUMB_LENGTH])
    except (TypeError, ValueError, OverflowError):  # text or rational 0/0: no usable thumbnail
        return None
    if start < 0:
        return None
    data = tiff[start : start + length]
    return data if length > 0 and len(data) == length and data[:2] == b"\xff\xd8" else None


def decode_thumbnail(data: bytes) -> np.ndarray | None:
    """RGB uint8 pixels of the thumbnail, or None when it does not decode."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except Exception:  # noqa: BLE001
        return None


@dataclass
class ThumbnailMatch:
    fit: str  # 'stretch' | 'letterbox' | 'crop'
    rotation: int  # quarter turns (np.rot90 k) applied to the image to match the thumbnail
    mean_difference: float  # mean largest-channel difference over the compared area, 0..255
    local_difference: float  # 98th percentile of the smoothed difference, 0..255
    resized: np.ndarray  # the image at thumbnail size (RGB uint8), as compared
    difference: np.ndarray  # that difference at thumbnail size, float32 (0 outside the content)
    content: tuple[int, int, int, int]  # x0, y0, x1, y1 of the compared area in the thumbnail
    source: tuple[int, int, int, int]  # x0, y0, x1, y1 of that area in the turned image


def _soft(rgb: np.ndarray) -> np.ndarray:
    # Thumbnails are small, soft and heavily compressed: compare slightly blurred colours.
    return cv2.GaussianBlur(np.ascontiguousarray(rgb).astype(np.float32), (3, 3), 0)


def content_box(thumbnail: np.ndarray) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 inside the black bars a camera adds around a picture of another aspect
    (bars: rows or columns all darker than BAR_LEVEL)."""
    luma = thumbnail.max(axis=2)
    rows = np.flatnonzero(luma.max(axis=1) > BAR_LEVEL)
    cols = np.flatnonzero(luma.max(axis=0) > BAR_LEVEL)
    if rows.size < 4 or cols.size < 4:
        return 0, 0, thumbnail.shape[1], thumbnail.shape[0]
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _variants(image: np.ndarray, thumbnail: np.ndarray):
    """(fit, resized image area, content box in the thumbnail, source box in the image)."""
    h, w = image.shape[:2]
    th, tw = thumbnail.shape[:2]
    yield "stretch", cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA), (0, 0, tw, th), (
        0, 0, w, h)  # fmt: skip
    x0, y0, x1, y1 = content_box(thumbnail)
    if (x1 - x0, y1 - y0) != (tw, th):  # bars: the whole picture fills the box between them
        resized = cv2.resize(image, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
        yield "letterbox", resized, (x0, y0, x1, y1), (0, 0, w, h)
    small = min(tw / w, th / h)
    cw, ch = max(1, round(w * small)), max(1, round(h * small))
    if abs(cw - tw) >= 2 or abs(ch - th) >= 2:
        # The centred box the aspect implies (bar detection fails on dark picture edges).
        x0, y0 = (tw - cw) // 2, (th - ch) // 2
        resized = cv2.resize(image, (cw, ch), interpolation=cv2.INTER_AREA)
        yield "letterbox", resized, (x0, y0, x0 + cw, y0 + ch), (0, 0, w, h)
        large = max(tw / w, th / h)
        sw, sh = min(w, round(tw / large)), min(h, round(th / large))
        sx, sy = (w - sw) // 2, (h - sh) // 2
        crop = image[sy : sy + sh, sx : sx + sw]
        yield "crop", cv2.resize(crop, (tw, th), interpolation=cv2.INTER_AREA), (0, 0, tw, th), (
            sx, sy, sx + sw, sy + sh)  # fmt: skip


def match_thumbnail(pixels: np.ndarray, thumbnail: np.ndarray) -> ThumbnailMatch:
    """The best-matching way of bringing ``pixels`` to the thumbnail's size, with its difference."""
    th, tw = thumbnail.shape[:2]
    thumb_soft = _soft(thumbnail)
    best: ThumbnailMatch | None = None
    for rotation in (0, 1, 3):
        turned = np.rot90(pixels, rotation) if rotation else pixels
        for fit, resized, content, source in _variants(turned, thumbnail):
            x0, y0, x1, y1 = content
            # The largest channel difference: a recolouring can keep the luma.
            diff = np.abs(_soft(resized) - thumb_soft[y0:y1, x0:x1]).max(axis=2)
            mean = float(diff.mean())
            if best is not None and mean >= best.mean_difference:
                continue
            smooth = cv2.blur(diff, (5, 5)) if min(diff.shape) >= 5 else diff
            full = np.zeros((th, tw), np.float32)
            full[y0:y1, x0:x1] = diff
            canvas = np.zeros((th, tw, 3), np.uint8)
            canvas[y0:y1, x0:x1] = resized
            best = ThumbnailMatch(
                fit, rotation, mean, float(np.percentile(smooth, 98)), canvas, full, content,
                source,
            )  # fmt: skip
    assert best is not None
    return best


def difference_map(match: ThumbnailMatch, height: int, width: int) -> tuple[np.ndarray, int]:
    """The thumbnail difference on the original pixel grid: (map, cell), the map being
    ceil(H/cell) x ceil(W/cell) float32 in 0..255 with cell about the thumbnail's scale."""
    x0, y0, x1, y1 = match.content
    sx0, sy0, sx1, sy1 = match.source
    turned_h, turned_w = (width, height) if match.rotation in (1, 3) else (height, width)
    cell = max(1, min((sx1 - sx0) // max(1, x1 - x0), (sy1 - sy0) // max(1, y1 - y0)))
    rows, cols = -(-turned_h // cell), -(-turned_w // cell)
    canvas = np.zeros((rows, cols), np.float32)
    r0, c0 = sy0 // cell, sx0 // cell
    r1, c1 = min(rows, -(-sy1 // cell)), min(cols, -(-sx1 // cell))
    area = match.difference[y0:y1, x0:x1]
    canvas[r0:r1, c0:c1] = cv2.resize(area, (c1 - c0, r1 - r0), interpolation=cv2.INTER_LINEAR)
    if match.rotation:
        canvas = np.rot90(canvas, -match.rotation)
    return np.ascontiguousarray(canvas), cell
