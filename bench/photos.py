"""Benchmark inputs made of real photo content: CASIA photos tiled into a mosaic."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

CASIA = Path(
    os.environ.get(
        "FORENSIC_VIEWER_CASIA", Path(__file__).resolve().parents[2] / "shared/datasets/casia1"
    )
)


def mosaic(width: int, height: int) -> np.ndarray:
    """RGB uint8 height x width of CASIA authentic photos side by side (noise without CASIA)."""
    photos = sorted(CASIA.glob("authentic/*.jpg"))
    if not photos:
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    index = 0
    for y in range(0, height, 256):
        for x in range(0, width, 384):
            with Image.open(photos[index % len(photos)]) as image:
                tile = np.asarray(image.convert("RGB"))
            index += 1
            h, w = min(256, height - y, tile.shape[0]), min(384, width - x, tile.shape[1])
            canvas[y : y + h, x : x + w] = tile[:h, :w]
    return canvas
