"""Innocent operations of the synthetic generator: authentic files a detector must not flag.

- ``original``: the untouched camera file, byte for byte.
- ``resave``: an 8-aligned window (the camera's block grid kept, as in a re-save of the whole
  photo) saved at another quality, 4:2:0 or 4:4:4.
- ``double_resave``: the same, saved twice at two drawn qualities.
- ``crop``: a window of a random size at a random offset (off the grid), saved once.
- ``messenger``: downscaled as a messenger would (long side at most 1600 px, area filter) and
  saved at q70-80 with 4:2:0; with ``max_side`` a window of the photo chosen so the result is at
  most max_side on a side.
"""

from __future__ import annotations

import io
import math

import cv2
import numpy as np
from PIL import Image

from .synthetic import (
    MESSENGER_QUALITY,
    MESSENGER_SIDE,
    Generated,
    Photo,
    SaveSettings,
    _decoded,
    _plain_settings,
    _window,
    decode_jpeg,
    encode_jpeg,
)


def innocent(photo: Photo, kind: str, rng, max_side, qualities, pair_id: str) -> Generated:
    """One innocent-operation authentic of ``photo`` (a kind of ``INNOCENT_KINDS``)."""
    if kind == "original":
        data = photo.path.read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
        mask = np.zeros((height, width), bool)
        return Generated(data, 0, kind, mask, photo, pair_id, None, {})
    full, _, _ = _decoded(str(photo.path))
    height, width = full.shape[:2]
    params: dict = {}
    if kind == "messenger":
        factor = min(1.0, MESSENGER_SIDE / max(height, width))
        side = None if max_side is None else int(math.ceil(max_side / factor))
        top, left, h, w = _window(rng, height, width, side, aligned=False)
        size = (max(8, round(w * factor)), max(8, round(h * factor)))
        crop = full[top : top + h, left : left + w]
        pixels = cv2.resize(crop, size, interpolation=cv2.INTER_AREA) if factor < 1 else crop
        quality = int(rng.integers(MESSENGER_QUALITY[0], MESSENGER_QUALITY[1] + 1))
        settings = SaveSettings(quality, "4:2:0", False)
        params = {"crop": [top, left, h, w], "factor": round(factor, 4)}
    elif kind == "crop":
        limit = None if max_side is None else max_side
        h_max = height if limit is None else min(height, limit)
        w_max = width if limit is None else min(width, limit)
        h = int(rng.integers(max(8, h_max // 2), h_max + 1))
        w = int(rng.integers(max(8, w_max // 2), w_max + 1))
        top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
        pixels = full[top : top + h, left : left + w]
        settings = _plain_settings(rng, qualities)
        params = {"crop": [top, left, h, w]}
    else:  # resave / double_resave: an 8-aligned window behaves like the whole photo's re-save
        top, left, h, w = _window(rng, height, width, max_side, aligned=True)
        pixels = full[top : top + h, left : left + w]
        params = {"crop": [top, left, h, w]}
        if kind == "double_resave":
            first = _plain_settings(rng, qualities)
            pixels = decode_jpeg(encode_jpeg(pixels, first))
            params["first"] = {"quality": first.quality, "subsampling": first.subsampling}
        settings = _plain_settings(rng, qualities)
    data = encode_jpeg(pixels, settings)
    mask = np.zeros(pixels.shape[:2], bool)
    return Generated(data, 0, kind, mask, photo, pair_id, settings, params)
