"""One picture of an analysis result: its map (colour-mapped when it is a float map), scaled to the
image, with the mask tinted and the match lines drawn. Used by the CLI and the export."""

from __future__ import annotations

import cv2
import numpy as np

from .base import AnalysisResult

MASK_COLOUR = np.array([255, 40, 40], np.float32)
LINE_COLOUR = (255, 230, 0)
END_COLOUR = (0, 200, 255)


def colour_map(values: np.ndarray) -> np.ndarray:
    """H x W float in [0, 1] (NaN as 0) -> H x W x 3 RGB uint8 with the 'inferno' colormap."""
    scaled = np.nan_to_num(values.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    levels = np.round(np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def base_image(result: AnalysisResult, original: np.ndarray) -> np.ndarray:
    """The map as RGB uint8 on the original's grid (a coarse map is repeated ``cell`` times)."""
    image = result.image
    if image is None:
        return np.array(original, copy=True)
    image = colour_map(image) if image.ndim == 2 else np.asarray(image, np.uint8)
    height, width = original.shape[:2]
    if result.cell > 1:
        image = np.repeat(np.repeat(image, result.cell, axis=0), result.cell, axis=1)
    if image.shape[:2] != (height, width):
        padded = np.zeros((height, width, 3), np.uint8)
        h, w = min(height, image.shape[0]), min(width, image.shape[1])
        padded[:h, :w] = image[:h, :w]
        image = padded
    return np.array(image, copy=True)


def render_result(result: AnalysisResult, original: np.ndarray) -> np.ndarray:
    """``base_image`` with the mask tinted (half red, outlined) and the lines drawn."""
    picture = base_image(result, original)
    if result.mask is not None and result.mask.any():
        mask = result.mask[: picture.shape[0], : picture.shape[1]]
        picture[mask] = (0.5 * picture[mask] + 0.5 * MASK_COLOUR).astype(np.uint8)
        contours, _ = cv2.findContours(
            mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
        )
        cv2.drawContours(picture, contours, -1, tuple(int(c) for c in MASK_COLOUR), 1)
    thickness = max(1, round(max(picture.shape[:2]) / 800))
    for x1, y1, x2, y2 in result.lines:
        start, end = (round(x1), round(y1)), (round(x2), round(y2))
        cv2.line(picture, start, end, LINE_COLOUR, thickness, cv2.LINE_AA)
        cv2.circle(picture, end, thickness + 1, END_COLOUR, -1, cv2.LINE_AA)
    return picture
