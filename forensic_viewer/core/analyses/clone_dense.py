"""Dense copy-move detection after Cozzolino, Poggi & Verdoliva 2015 ("Efficient dense-field
copy-move forgery detection"), simplified:

1. Features: rotation-invariant Zernike moments (order <= 5) of every overlapping ``block`` x
   ``block`` patch of a grayscale copy reduced to ``max_side``, computed as convolutions.
   Patches without texture (high-pass energy under ``MIN_TEXTURE``) take no part: flat skies and
   smooth gradients match anywhere and would make false clones.
2. Nearest neighbour field by PatchMatch (random init, propagation with jumps, random search),
   vectorised over the whole field, never closer than ``min_distance``.
3. Dense linear fitting: a 7 x 7 neighbourhood's offsets must fit an affine model to within
   ``FIT_TOLERANCE`` px (translation, rotation and mild scaling all pass; random matches do not).
4. Connected regions of at least 10 x ``min_matches`` patches are clones; each has a twin (the
   other copy points back), so a region whose target lies in an already reported one is dropped.

The score is the number of patch positions in the largest consistent region.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .base import AnalysisResult, Cancelled, Progress, check_cancel
from .clone import DEFAULT_SIDE, describe, finish, full_size_mask, working_gray

MIN_TEXTURE = 1.5
"""Least RMS high-pass energy (gray levels) of a patch that is matched."""
FIT_TOLERANCE = 1.0
"""Largest RMS residual (px) of the affine fit of a neighbourhood's offsets."""
FIT_WINDOW = 7
ITERATIONS = 5
MAX_ORDER = 5
MAX_LINES = 60


def zernike_kernels(block: int) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(real, imaginary or None) kernels of the Zernike polynomials up to ``MAX_ORDER`` on a disk
    inscribed in the block, each scaled to unit energy so all features weigh alike."""
    centre = (block - 1) / 2
    y, x = np.mgrid[0:block, 0:block].astype(np.float64)
    x, y = (x - centre) / (block / 2), (y - centre) / (block / 2)
    rho, theta = np.hypot(x, y), np.arctan2(y, x)
    inside = rho <= 1.0
    kernels = []
    for n in range(MAX_ORDER + 1):
        for m in range(n % 2, n + 1, 2):
            radial = sum(
                (-1) ** s
                * math.factorial(n - s)
                / (
                    math.factorial(s)
                    * math.factorial((n + m) // 2 - s)
                    * math.factorial((n - m) // 2 - s)
                )
                * rho ** (n - 2 * s)
                for s in range((n - m) // 2 + 1)
            )
            real = np.where(inside, radial * np.cos(m * theta), 0.0)
            imag = np.where(inside, -radial * np.sin(m * theta), 0.0) if m else None
            energy = math.sqrt(float((real**2).sum() + (0 if imag is None else (imag**2).sum())))
            kernels.append(
                (
                    (real / energy).astype(np.float32),
                    None if imag is None else (imag / energy).astype(np.float32),
                )
            )
    return kernels


def block_features(gray: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """(Hg x Wg x C float32 features, Hg x Wg bool textured) for every block's top-left corner."""
    image = gray.astype(np.float32)
    hg, wg = image.shape[0] - block + 1, image.shape[1] - block + 1

    def correlate(kernel: np.ndarray) -> np.ndarray:
        out = cv2.filter2D(image, cv2.CV_32F, kernel, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
        return out[:hg, :wg]

    features = []
    for real, imag in zernike_kernels(block):
        if imag is None:  # m = 0: a real, rotation-invariant value; keep its sign
            features.append(correlate(real))
        else:  # rotation turns the phase only: the magnitude is invariant
            features.append(np.hypot(correlate(real), correlate(imag)))
    highpass = image - cv2.GaussianBlur(image, (0, 0), 1.5)
    energy = cv2.boxFilter(highpass * highpass, cv2.CV_32F, (block, block), anchor=(0, 0))
    textured = np.sqrt(np.maximum(energy[:hg, :wg], 0)) >= MIN_TEXTURE
    return np.ascontiguousarray(np.stack(features, axis=-1)), textured


def patch_match(
    features: np.ndarray, textured: np.ndarray, min_distance: float, cancel: Cancelled,
    progress: Progress, seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Nearest-neighbour field over the textured positions: (dy, dx, cost), each Hg x Wg
    (cost is inf where nothing was matched). All state is kept per textured position, in flat
    arrays: one-dimensional gathers are what makes the vectorised search fast."""
    hg, wg, channels = features.shape
    flat = features.reshape(-1, channels)
    valid = textured.ravel()
    rng = np.random.default_rng(seed)
    where = np.flatnonzero(valid)
    ys, xs = (where // wg).astype(np.int32), (where % wg).astype(np.int32)
    own = flat[where]
    n = len(where)
    oy, ox = np.zeros(n, np.int32), np.zeros(n, np.int32)
    best = np.full(n, np.inf, np.float32)
    grid_dy = np.zeros(hg * wg, np.int32)
    grid_dx = np.zeros(hg * wg, np.int32)
    limit = np.float32(min_distance) ** 2

    def consider(cand_y: np.ndarray, cand_x: np.ndarray) -> None:
        ty = np.clip(ys + cand_y, 0, hg - 1)
        tx = np.clip(xs + cand_x, 0, wg - 1)
        target = ty * wg + tx
        diff = own - np.take(flat, target, axis=0)
        value = np.einsum("ij,ij->i", diff, diff)
        cy, cx = ty - ys, tx - xs
        value[(cy * cy + cx * cx < limit) | ~np.take(valid, target)] = np.inf
        better = np.flatnonzero(value < best)
        oy[better], ox[better], best[better] = cy[better], cx[better], value[better]

    def neighbour(sy: int, sx: int) -> np.ndarray:
        """Flat index of each position's neighbour at (sy, sx), itself at the grid's edge."""
        inside = (ys + sy >= 0) & (ys + sy < hg) & (xs + sx >= 0) & (xs + sx < wg)
        return np.where(inside, where + sy * wg + sx, where)

    if n == 0:
        return grid_dy.reshape(hg, wg), grid_dx.reshape(hg, wg), np.full((hg, wg), np.inf)
    for _ in range(3):
        consider(rng.integers(0, hg, n) - ys, rng.integers(0, wg, n) - xs)
    for iteration in range(ITERATIONS):
        check_cancel(cancel)
        steps = (8, 4, 2, 1) if iteration < 2 else (1,)
        for step in steps:
            for sy, sx in ((step, 0), (-step, 0), (0, step), (0, -step)):
                # A neighbour's offset, applied here: coherent copies spread through a region.
                grid_dy[where], grid_dx[where] = oy, ox
                index = neighbour(sy, sx)
                consider(np.take(grid_dy, index), np.take(grid_dx, index))
        radius = max(hg, wg) // 2
        while radius >= 1:
            consider(
                oy + rng.integers(-radius, radius + 1, n, dtype=np.int32),
                ox + rng.integers(-radius, radius + 1, n, dtype=np.int32),
            )
            radius //= 2
        progress(0.2 + 0.6 * (iteration + 1) / ITERATIONS)
    cost = np.full(hg * wg, np.inf, np.float32)
    grid_dy[:], grid_dx[:] = 0, 0
    grid_dy[where], grid_dx[where], cost[where] = oy, ox, best
    return grid_dy.reshape(hg, wg), grid_dx.reshape(hg, wg), cost.reshape(hg, wg)


def fit_residual(offset: np.ndarray) -> np.ndarray:
    """RMS residual of the least-squares plane a + b x + c y fitted to ``offset`` in every
    FIT_WINDOW x FIT_WINDOW neighbourhood (centred), computed with three linear filters."""
    r = FIT_WINDOW // 2
    values = offset.astype(np.float32)
    grid = np.arange(-r, r + 1, dtype=np.float32)
    kx = np.tile(grid, (FIT_WINDOW, 1))
    n = float(FIT_WINDOW * FIT_WINDOW)
    sxx = float((kx * kx).sum())
    border = cv2.BORDER_REFLECT
    s0 = cv2.boxFilter(values, cv2.CV_32F, (FIT_WINDOW,) * 2, normalize=False, borderType=border)
    sx = cv2.filter2D(values, cv2.CV_32F, kx, borderType=border)
    sy = cv2.filter2D(values, cv2.CV_32F, kx.T.copy(), borderType=border)
    q = cv2.boxFilter(
        values * values, cv2.CV_32F, (FIT_WINDOW,) * 2, normalize=False, borderType=border
    )
    residual = q - s0 * s0 / n - sx * sx / sxx - sy * sy / sxx
    return np.sqrt(np.maximum(residual, 0) / n)


def detect_dense(
    pixels: np.ndarray, params: dict, progress: Progress, cancel: Cancelled
) -> AnalysisResult:
    block = params["block"]
    gray, factor = working_gray(pixels, params["max_side"] or DEFAULT_SIDE["dense"])
    progress(0.02)
    if min(gray.shape) < block + FIT_WINDOW:
        return finish(
            pixels, np.zeros(pixels.shape[:2], bool), [], [], {"method": "dense"}, "blocks"
        )
    features, textured = block_features(gray, block)
    check_cancel(cancel)
    progress(0.2)
    dy, dx, cost = patch_match(features, textured, params["min_distance"], cancel, progress)
    check_cancel(cancel)
    consistent = textured & np.isfinite(cost)
    consistent &= (fit_residual(dy) <= FIT_TOLERANCE) & (fit_residual(dx) <= FIT_TOLERANCE)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        consistent.astype(np.uint8), connectivity=8
    )
    order = sorted(range(1, count), key=lambda i: -stats[i, cv2.CC_STAT_AREA])
    min_area = 10 * params["min_matches"]
    reported: list[int] = []
    clusters, lines = [], []
    marks = np.zeros(gray.shape, np.uint8)
    half = block // 2
    for label in order:
        area = int(stats[label, cv2.CC_STAT_AREA])
        if area < min_area:
            break
        ys, xs = np.nonzero(labels == label)
        ty, tx = ys + dy[ys, xs], xs + dx[ys, xs]
        twin = np.bincount(labels[ty, tx], minlength=count)
        if any(twin[r] > 0.5 * len(ys) for r in reported):
            continue  # the other copy of a region already reported
        reported.append(label)
        source = np.stack([xs, ys], axis=1).astype(np.float32) + half
        target = np.stack([tx, ty], axis=1).astype(np.float32) + half
        affine, _ = cv2.estimateAffine2D(source, target, method=cv2.LMEDS)
        if affine is None:
            affine = np.array(
                [[1, 0, np.median(dx[ys, xs])], [0, 1, np.median(dy[ys, xs])]], np.float64
            )
        clusters.append(describe(affine, area, factor, source, target))
        marks[ys + half, xs + half] = 1
        marks[
            np.clip(ty + half, 0, gray.shape[0] - 1), np.clip(tx + half, 0, gray.shape[1] - 1)
        ] = 1
        step = max(1, len(ys) // (MAX_LINES // 4 or 1))
        for (x1, y1), (x2, y2) in zip(
            source[::step] / factor, target[::step] / factor, strict=True
        ):
            if len(lines) < MAX_LINES:
                lines.append((float(x1), float(y1), float(x2), float(y2)))
    region = cv2.dilate(marks, np.ones((block, block), np.uint8)) > 0
    progress(0.95)
    data = {
        "method": "dense",
        "score_meaning": "patch positions in the largest geometrically consistent region",
        "working_scale": factor,
        "textured_fraction": float(textured.mean()),
        "positions": int(textured.size),
        "clusters": clusters,
    }
    return finish(pixels, full_size_mask(region, pixels.shape[:2]), lines, clusters, data, "blocks")
