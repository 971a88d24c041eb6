"""Display copies of very large images, and giving memory back when the window empties.

The views show at most ``MAX_DISPLAY_PIXELS`` per picture: a 169 MP scan would otherwise be shown
as full-size arrays (original, ELA rendering) on top of the decoded pixels and the raw
difference, and the window peaked at 3.9 GB. Analysis stays at full resolution (the ELA
difference, the pixel values under the mouse, exports); only what is drawn is reduced, the
original by area averaging, the ELA by block maximum so that small bright spots survive.

Cost of the limit: a displayed picture takes at most 32 MP x 3 bytes = 96 MB (pyqtgraph wraps
RGB uint8 arrays without a copy), the original's copy and the ELA rendering together 192 MB.
A camera photo up to 32 MP is shown pixel for pixel, as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import math

import numpy as np

MAX_DISPLAY_PIXELS = 32_000_000


def display_factor(width: int, height: int, limit: int | None = None) -> int:
    """The smallest integer reduction that brings ``width x height`` to ``limit`` pixels."""
    limit = MAX_DISPLAY_PIXELS if limit is None else limit
    factor = max(1, math.isqrt(max(width * height, 1) // max(limit, 1)))
    while -(-width // factor) * -(-height // factor) > limit:
        factor += 1
    return factor


def block_max(array: np.ndarray, factor: int) -> np.ndarray:
    """Each ``factor x factor`` block's maximum (edge blocks may be partial), without a full-size
    temporary: one strided pass per position in the block."""
    if factor <= 1:
        return array
    height, width = array.shape[:2]
    out = np.ascontiguousarray(array[::factor, ::factor])
    for dy in range(factor):
        for dx in range(factor):
            if dy == 0 and dx == 0:
                continue
            part = array[dy::factor, dx::factor]
            target = out[: part.shape[0], : part.shape[1]]
            np.maximum(target, part, out=target)
    return out


def area_reduce(array: np.ndarray, factor: int) -> np.ndarray:
    """A ``factor`` times smaller copy, each pixel the mean of its block (OpenCV INTER_AREA)."""
    if factor <= 1:
        return np.ascontiguousarray(array)
    import cv2  # the ELA worker has loaded it already

    height, width = array.shape[:2]
    size = (-(-width // factor), -(-height // factor))
    return np.ascontiguousarray(cv2.resize(array, size, interpolation=cv2.INTER_AREA))


def _malloc_trim():
    """glibc's ``malloc_trim`` or None (macOS, Windows and musl have no such call)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def release_memory() -> bool:
    """Collect cycles, then hand glibc's free heap pages back to the system.

    Freed arrays of a few MB (ELA strips, thumbnails, Qt images) live in malloc's per-thread
    arenas; glibc keeps their pages mapped, so the process's RSS stays high although nothing
    uses them. Returns True when pages were given back.
    """
    gc.collect()
    return bool(_TRIM(0)) if _TRIM is not None else False
