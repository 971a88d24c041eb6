"""Pillow pixel modes to RGB uint8 (the mode policy is in ``core.images``' docstring)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .errors import UnsupportedFormatError


def to_rgb(image: Image.Image, path: Path, notes: list[str]) -> np.ndarray:
    mode = image.mode
    if mode == "RGB":
        return np.asarray(image, dtype=np.uint8)
    if mode.startswith("I;16") or mode in ("I", "F"):
        data = np.asarray(image)
        if mode.startswith("I;16"):
            gray = (data.astype(np.uint32) >> 8).astype(np.uint8)
            notes.append("16-bit image reduced to 8 bits (high byte) for display and ELA")
        else:
            gray = _stretch(data.astype(np.float64), mode, notes)
        return np.repeat(gray[:, :, None], 3, axis=2)
    # has_transparency_data knows the alpha modes (RGBA, LA, PA, RGBa, La) and palette/RGB
    # transparency; a letter test would also match "LAB", which has no alpha.
    if image.has_transparency_data:
        notes.append("Transparency ignored: colour values are analysed as stored")
    if mode == "CMYK":
        notes.append("CMYK converted to RGB (naive inversion, as Pillow does)")
    try:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (ValueError, OSError) as exc:
        raise UnsupportedFormatError(path, f"mode {mode}") from exc


def _stretch(data: np.ndarray, mode: str, notes: list[str]) -> np.ndarray:
    """32-bit samples onto 0..255 from the range of the finite values.

    One +inf or NaN would otherwise make the range infinite and every pixel black. Infinite and
    NaN samples are painted at the ends (+inf white, -inf and NaN black) and the note counts them.
    """
    finite = np.isfinite(data)
    if finite.any():
        lo, hi = float(data[finite].min()), float(data[finite].max())
    else:
        lo, hi = 0.0, 0.0
    span = hi - lo if hi > lo else 1.0
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = (np.where(finite, data, lo) - lo) * (255.0 / span)
    gray = np.clip(scaled, 0, 255)
    gray[data == np.inf] = 255
    gray = gray.astype(np.uint8)
    note = f"{mode} image stretched from [{lo:g}, {hi:g}] to 8 bits"
    counts = [
        (int(np.count_nonzero(data == np.inf)), "+inf shown white"),
        (int(np.count_nonzero(data == -np.inf)), "-inf shown black"),
        (int(np.count_nonzero(np.isnan(data))), "NaN shown black"),
    ]
    odd = [f"{n:,} {label}" for n, label in counts if n]
    if odd:
        note += " (finite values only; " + ", ".join(odd) + ")"
    notes.append(note)
    return gray
