"""Shapes, edges and pasted patches of the synthetic tampering generator (numpy + OpenCV).

Everything takes a ``numpy.random.Generator`` so the caller controls determinism. A region is a
tight boolean mask (its bounding box) placed at an offset in the target; its alpha is 1 inside,
falling to about 1/(w+1) at the border for a feathered edge of w pixels, and 0 outside, so the
pixels a paste can change are exactly the mask's pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

MIN_AREA, MAX_AREA = 0.02, 0.15
"""Share of the target a region covers (drawn log-uniformly between the two)."""
SHAPES = ("polygon", "blob")
_UNIT = 64.0
"""Radius at which a shape is first drawn to measure its area before scaling to the target."""


@dataclass(frozen=True)
class Shape:
    kind: str
    points: np.ndarray
    """polygon: N x 2 vertices; blob: K x 5 ellipses (cx, cy, ax, ay, angle in degrees),
    all in units of the shape's radius, centred on 0."""
    smooth: float


def random_shape(rng: np.random.Generator) -> Shape:
    """An irregular polygon (5-12 vertices) or an object-like blob (a smoothed union of 3-6
    ellipses), with a random aspect ratio."""
    kind = SHAPES[int(rng.integers(len(SHAPES)))]
    aspect = math.exp(rng.uniform(-0.6, 0.6))
    if kind == "polygon":
        count = int(rng.integers(5, 13))
        angles = np.sort(rng.uniform(0.0, 2.0 * math.pi, count))
        radii = rng.uniform(0.45, 1.0, count)
        points = np.stack([np.cos(angles) * radii * aspect, np.sin(angles) * radii / aspect], 1)
        return Shape(kind, points, 0.0)
    count = int(rng.integers(3, 7))
    ellipses = np.stack(
        [
            rng.uniform(-0.45, 0.45, count) * aspect,
            rng.uniform(-0.45, 0.45, count) / aspect,
            rng.uniform(0.25, 0.6, count) * aspect,
            rng.uniform(0.25, 0.6, count) / aspect,
            rng.uniform(0.0, 180.0, count),
        ],
        1,
    )
    return Shape(kind, ellipses, 0.18)


def render_shape(shape: Shape, radius: float) -> np.ndarray:
    """The shape drawn at ``radius`` pixels, cropped to its bounding box (bool)."""
    extent = 1.2 * max(1.0, float(np.abs(shape.points[:, :2]).max()) + 0.7)
    side = int(math.ceil(2 * radius * extent)) + 4
    centre = side / 2.0
    canvas = np.zeros((side, side), np.uint8)
    if shape.kind == "polygon":
        vertices = np.round(shape.points * radius + centre).astype(np.int32)
        cv2.fillPoly(canvas, [vertices], 255)
    else:
        for cx, cy, ax, ay, angle in shape.points:
            cv2.ellipse(
                canvas,
                (int(round(cx * radius + centre)), int(round(cy * radius + centre))),
                (max(1, int(round(ax * radius))), max(1, int(round(ay * radius)))),
                float(angle),
                0,
                360,
                255,
                -1,
            )
        sigma = max(0.5, shape.smooth * radius)
        canvas = cv2.GaussianBlur(canvas, (0, 0), sigma)
        canvas = np.where(canvas >= 128, 255, 0).astype(np.uint8)
    ys, xs = np.nonzero(canvas)
    if ys.size == 0:
        return np.ones((1, 1), bool)
    return canvas[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] > 0


def region_mask(
    rng: np.random.Generator, height: int, width: int, area: float | None = None
) -> np.ndarray:
    """A tight mask covering about ``area`` (default: drawn in 2-15%) of a height x width image,
    shrunk when needed so that its bounding box fits in the image."""
    if area is None:
        area = math.exp(rng.uniform(math.log(MIN_AREA), math.log(MAX_AREA)))
    shape = random_shape(rng)
    unit = render_shape(shape, _UNIT)
    radius = _UNIT * math.sqrt(area * height * width / max(1, int(unit.sum())))
    mask = render_shape(shape, radius)
    # A fitting box: scale down by the overflow, a few times (rounding can overshoot by a pixel).
    for _ in range(4):
        overflow = max(mask.shape[0] / height, mask.shape[1] / width)
        if overflow <= 1.0:
            break
        radius /= overflow * 1.02
        mask = render_shape(shape, radius)
    return mask[:height, :width]


def feathered_alpha(mask: np.ndarray, width: int) -> np.ndarray:
    """float32 alpha: 1 inside, an inward ramp of ``width`` pixels (0: a hard edge), 0 outside.

    The ramp stays inside the mask (border pixels get 1/(width+1)), so the mask is exactly the
    set of pixels the paste may change."""
    if width <= 0:
        return mask.astype(np.float32)
    padded = np.pad(mask.astype(np.uint8), 1)
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    return np.clip(distance / (width + 1.0), 0.0, 1.0).astype(np.float32) * mask


def translated_patch(source: np.ndarray, top: int, left: int, height: int, width: int):
    """source[top:top+height, left:left+width], exact pixels (no resampling)."""
    return source[top : top + height, left : left + width]


def warped_patch(
    source: np.ndarray,
    centre: tuple[float, float],
    height: int,
    width: int,
    angle: float,
    scale: float,
) -> np.ndarray:
    """A height x width patch showing ``source`` around ``centre`` (x, y), rotated by ``angle``
    degrees and scaled by ``scale`` (bilinear; reflected at the source's borders)."""
    theta = math.radians(angle)
    inverse = np.array(
        [[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]]
    ) / float(scale)
    destination_centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    offset = np.asarray(centre, np.float64) - inverse @ destination_centre
    matrix = np.hstack([inverse, offset[:, None]])
    return cv2.warpAffine(
        np.ascontiguousarray(source),
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT_101,
    )


def warped_extent(height: int, width: int, angle: float, scale: float) -> tuple[float, float]:
    """Half the (height, width) of the source area a warped patch reads."""
    theta = math.radians(angle)
    c, s = abs(math.cos(theta)), abs(math.sin(theta))
    half_w = (c * width + s * height) / (2.0 * scale)
    half_h = (s * width + c * height) / (2.0 * scale)
    return half_h, half_w


def tone_matched(patch: np.ndarray, destination: np.ndarray, strength: float) -> np.ndarray:
    """The patch's mean colour moved ``strength`` of the way to the destination's (an editor's
    brightness/colour match), clipped to 8 bits."""
    shift = (destination.reshape(-1, 3).mean(0) - patch.reshape(-1, 3).mean(0)) * strength
    return np.clip(patch.astype(np.float32) + shift, 0, 255)


def composite(
    target: np.ndarray, patch: np.ndarray, alpha: np.ndarray, top: int, left: int
) -> np.ndarray:
    """A copy of ``target`` with ``patch`` blended in at (top, left) by ``alpha``: pixels where
    alpha is 0 keep their exact values."""
    out = target.copy()
    height, width = alpha.shape
    region = out[top : top + height, left : left + width].astype(np.float32)
    a = alpha[..., None]
    blended = np.rint(a * patch.astype(np.float32) + (1.0 - a) * region)
    out[top : top + height, left : left + width] = np.where(
        a > 0, np.clip(blended, 0, 255), region
    ).astype(np.uint8)
    return out
