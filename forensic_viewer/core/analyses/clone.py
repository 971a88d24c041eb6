"""Copy-move (clone) detection: keypoints after Amerini et al. 2011, or a dense field (clone_dense).

Keypoint method, on a grayscale copy reduced to ``max_side``:

1. SIFT keypoints and descriptors (OpenCV).
2. g2NN matching: each descriptor's nearest neighbours (itself excluded) are accepted while the
   ratio of consecutive distances stays below ``ratio``, so one keypoint can match several copies.
3. Matches shorter than ``min_distance`` are dropped (a keypoint and its own neighbourhood).
4. Clustering into geometrically consistent groups: repeated RANSAC fits of an affine model
   (``cv2.estimateAffine2D``) on the matches in both directions; each model's inliers form one
   cluster and leave the pool with their reversed twins. A model that is degenerate (scale
   outside 1/4..4) or shorter than ``min_distance`` is discarded.
5. Localisation: the image is warped by each cluster's model and compared with itself (local
   mean squared difference against local variance, as in Amerini et al. 2013); the agreeing area
   that holds the cluster's keypoints is the destination, its inverse image the source.

The image score is the number of matches in the largest consistent cluster.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..images import LoadedImage
from . import register
from .base import AnalysisResult, Cancelled, Finding, Param, Progress, check_cancel

MAX_KEYPOINTS = 12_000
"""The strongest keypoints kept: bounds matching time on large, busy photos."""
MAX_LINES = 300
"""Match lines returned for display (the strongest clusters first)."""
EXACT_MATCH_LIMIT = 4_000
"""Up to this many descriptors, exact brute-force k-NN; above it, FLANN's KD-trees."""

METHOD = Param(
    "method", "Method", "choice", "keypoints", choices=("keypoints", "dense"),
    help="keypoints: SIFT matches (fast, handles rotation and scaling, misses smooth areas); "
    "dense: every overlapping block (slower, finds smooth and small clones, moves and rotations).",
)  # fmt: skip
MAX_SIDE = Param(
    "max_side", "Working size (px)", "int", 0, 0, 8192,
    help="The image is reduced to this longest side first (0: 2048 for keypoints, 768 for dense).",
)  # fmt: skip
MIN_DISTANCE = Param(
    "min_distance", "Minimum move (px)", "int", 20, 2, 1000,
    help="Matches closer than this (in working pixels) are ignored.",
)  # fmt: skip
RATIO = Param(
    "ratio", "g2NN ratio", "float", 0.5, 0.05, 0.95,
    help="Keypoints: a neighbour is a match while the next one is this much farther.",
)  # fmt: skip
MIN_MATCHES = Param(
    "min_matches", "Minimum cluster", "int", 4, 3, 10_000,
    help="Keypoints: the fewest consistent matches (dense: blocks x 10) reported as a clone.",
)  # fmt: skip
BLOCK = Param(
    "block", "Block size (px)", "int", 16, 8, 64,
    help="Dense: the side of the compared blocks (working pixels).",
)  # fmt: skip

DEFAULT_SIDE = {"keypoints": 2048, "dense": 768}
STRONG = {"keypoint matches": 10, "blocks": 200}
"""Cluster sizes reported as a warning; smaller clusters are a notice (authentic photos with
repeated texture reach them; see bench/README.md). Dense: also at least STRONG_SHARE of the
working image's block positions, since block counts grow with the image."""
STRONG_SHARE = 0.002


def working_gray(pixels: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Grayscale copy reduced so its longest side is at most ``max_side``; (gray, factor)."""
    gray = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    longest = max(gray.shape)
    if longest <= max_side:
        return gray, 1.0
    factor = max_side / longest
    size = (max(1, round(gray.shape[1] * factor)), max(1, round(gray.shape[0] * factor)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA), factor


def sift_features(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N x 2 float32 positions, N x 128 float32 descriptors), strongest first, capped."""
    sift = cv2.SIFT_create(nfeatures=MAX_KEYPOINTS, contrastThreshold=0.02)
    keypoints, descriptors = sift.detectAndCompute(gray, None)
    if descriptors is None or len(keypoints) < 2:
        return np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32)
    points = np.array([k.pt for k in keypoints], np.float32)
    return points, descriptors.astype(np.float32)


def g2nn_matches(
    points: np.ndarray, descriptors: np.ndarray, ratio: float, min_distance: float, k: int = 10
) -> np.ndarray:
    """Index pairs (i, j), i < j, accepted by the generalised 2NN test and at least
    ``min_distance`` apart; M x 2 int."""
    n = len(points)
    if n < 3:
        return np.zeros((0, 2), np.int64)
    k = min(k + 1, n)  # +1: the first neighbour of every descriptor is itself
    if n <= EXACT_MATCH_LIMIT:
        knn = cv2.BFMatcher(cv2.NORM_L2).knnMatch(descriptors, descriptors, k=k)
    else:
        flann = cv2.FlannBasedMatcher({"algorithm": 1, "trees": 4}, {"checks": 64})
        knn = flann.knnMatch(descriptors, descriptors, k=k)
    pairs = set()
    for i, row in enumerate(knn):
        neighbours = [m for m in row if m.trainIdx != i]
        for first, second in zip(neighbours, neighbours[1:], strict=False):
            if first.distance >= ratio * second.distance:
                break
            j = first.trainIdx
            pairs.add((min(i, j), max(i, j)))
    if not pairs:
        return np.zeros((0, 2), np.int64)
    pairs_array = np.array(sorted(pairs), np.int64)
    length = np.linalg.norm(points[pairs_array[:, 0]] - points[pairs_array[:, 1]], axis=1)
    return pairs_array[length >= min_distance]


def model_facts(affine: np.ndarray) -> dict:
    """Translation, rotation (degrees) and mean scale of a 2 x 3 affine model."""
    linear = affine[:, :2]
    scale = math.sqrt(abs(float(np.linalg.det(linear))))
    rotation = math.degrees(
        math.atan2(float(linear[1, 0] - linear[0, 1]), float(linear[0, 0] + linear[1, 1]))
    )
    return {
        "dx": float(affine[0, 2]),
        "dy": float(affine[1, 2]),
        "rotation": rotation,
        "scale": scale,
    }


def canonical(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orient each match so its move points right (or down when vertical): all matches of one
    translated copy then point the same way."""
    move = target - source
    flip = (move[:, 0] < 0) | ((move[:, 0] == 0) & (move[:, 1] < 0))
    return np.where(flip[:, None], target, source), np.where(flip[:, None], source, target)


def fit(from_points: np.ndarray, to_points: np.ndarray, threshold: float):
    affine, inliers = cv2.estimateAffine2D(
        from_points, to_points, method=cv2.RANSAC, ransacReprojThreshold=threshold,
        maxIters=4000, confidence=0.995, refineIters=10,
    )  # fmt: skip
    if affine is None or inliers is None:
        return None, np.zeros(len(from_points), bool)
    return affine, inliers.ravel().astype(bool)


def residual(affine: np.ndarray, from_points: np.ndarray, to_points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(from_points @ affine[:, :2].T + affine[:, 2] - to_points, axis=1)


def consistent_clusters(
    source: np.ndarray, target: np.ndarray, min_matches: int, min_distance: float,
    threshold: float = 3.0, max_models: int = 8,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:  # fmt: skip
    """Repeated RANSAC: [(affine 2x3, from M x 2, to M x 2)], largest first.

    Matches are oriented canonically for the first fit; then every remaining match is turned the
    way the model fits it better and the model is refitted, so rotated copies (whose matches the
    canonical rule splits) come out whole. Each model's inliers leave the pool."""
    from_all, to_all = canonical(source.astype(np.float32), target.astype(np.float32))
    active = np.ones(len(from_all), bool)
    clusters = []
    for _ in range(max_models):
        index = np.flatnonzero(active)
        if len(index) < min_matches:
            break
        affine, inliers = fit(from_all[index], to_all[index], threshold)
        if affine is None or inliers.sum() < min(3, min_matches):
            break
        forward = residual(affine, from_all[index], to_all[index])
        backward = residual(affine, to_all[index], from_all[index])
        turn = backward < forward
        from_points = np.where(turn[:, None], to_all[index], from_all[index])
        to_points = np.where(turn[:, None], from_all[index], to_all[index])
        refined, inliers = fit(from_points, to_points, threshold)
        if refined is not None and inliers.sum() >= min_matches:
            affine = refined
        else:
            inliers = np.minimum(forward, backward) <= threshold
        active[index[inliers]] = False
        if inliers.sum() < min_matches:
            continue
        facts = model_facts(affine)
        chosen_from, chosen_to = from_points[inliers], to_points[inliers]
        moved = np.median(np.linalg.norm(chosen_to - chosen_from, axis=1))
        if 0.25 <= facts["scale"] <= 4.0 and moved >= min_distance:
            clusters.append((affine, chosen_from, chosen_to))
    clusters.sort(key=lambda c: -len(c[1]))
    return clusters


def agreement_mask(
    gray: np.ndarray, affine: np.ndarray, seeds: np.ndarray, window: int = 7
) -> np.ndarray:
    """Where ``gray`` agrees with itself moved by ``affine`` and near the cluster's ``seeds``
    (destination points): local mean squared difference small against local variance."""
    h, w = gray.shape
    image = gray.astype(np.float32)
    warped = cv2.warpAffine(image, affine, (w, h), flags=cv2.INTER_LINEAR)
    inside = cv2.warpAffine(np.ones_like(image), affine, (w, h), flags=cv2.INTER_NEAREST) > 0
    box = (window, window)
    mean = cv2.blur(image, box)
    variance = np.maximum(cv2.blur(image * image, box) - mean * mean, 0)
    mse = cv2.blur((image - warped) ** 2, box)
    agree = (mse < 0.25 * variance + 12.0) & inside
    # Only near the cluster: a flat sky agrees with any moved copy of itself.
    span = max(np.ptp(seeds[:, 0]), np.ptp(seeds[:, 1]), 8.0)
    margin = 0.25 * span + window
    # The seeds' convex hull grown by ``margin``: the hull of circles around its corners (a
    # dilation with a kernel that large would cost seconds on a big image).
    corners = cv2.convexHull(seeds.astype(np.float32)).reshape(-1, 2)
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    ring = np.stack([np.cos(angles), np.sin(angles)], axis=1) * margin
    grown = cv2.convexHull((corners[:, None, :] + ring[None]).reshape(-1, 2).astype(np.float32))
    hull = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(hull, np.round(grown).astype(np.int32), 1)
    agree = (agree & (hull > 0)).astype(np.uint8)
    agree = cv2.morphologyEx(agree, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels = cv2.connectedComponents(agree, connectivity=8)
    xs = np.clip(seeds[:, 0].round().astype(int), 0, w - 1)
    ys = np.clip(seeds[:, 1].round().astype(int), 0, h - 1)
    keep = np.unique(labels[ys, xs])
    region = np.isin(labels, keep[keep > 0])
    region = cv2.morphologyEx(region.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    return region.astype(bool)


def cluster_masks(gray: np.ndarray, clusters: list) -> np.ndarray:
    """Destination regions and their sources (inverse model) for every cluster, H x W bool."""
    mask = np.zeros(gray.shape, bool)
    h, w = gray.shape
    for affine, _from_points, to_points in clusters:
        destination = agreement_mask(gray, affine, to_points)
        inverse = cv2.invertAffineTransform(affine)
        source = cv2.warpAffine(
            destination.astype(np.uint8), inverse, (w, h), flags=cv2.INTER_NEAREST
        )
        mask |= destination | (source > 0)
    return mask


def full_size_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if mask.shape == shape:
        return mask
    resized = cv2.resize(
        mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST
    )
    return resized.astype(bool)


def detect_keypoints(
    pixels: np.ndarray, params: dict, progress: Progress, cancel: Cancelled
) -> AnalysisResult:
    max_side = params["max_side"] or DEFAULT_SIDE["keypoints"]
    gray, factor = working_gray(pixels, max_side)
    check_cancel(cancel)
    progress(0.05)
    points, descriptors = sift_features(gray)
    check_cancel(cancel)
    progress(0.45)
    pairs = g2nn_matches(points, descriptors, params["ratio"], params["min_distance"])
    check_cancel(cancel)
    progress(0.7)
    clusters = consistent_clusters(
        points[pairs[:, 0]], points[pairs[:, 1]], params["min_matches"], params["min_distance"]
    )
    check_cancel(cancel)
    progress(0.8)
    mask = full_size_mask(cluster_masks(gray, clusters), pixels.shape[:2])
    lines = []
    for _affine, from_points, to_points in clusters:
        for (x1, y1), (x2, y2) in zip(from_points / factor, to_points / factor, strict=True):
            if len(lines) < MAX_LINES:
                lines.append((float(x1), float(y1), float(x2), float(y2)))
    described = [describe(affine, len(a), factor, a, b) for affine, a, b in clusters]
    data = {
        "method": "keypoints",
        "score_meaning": "matches in the largest geometrically consistent cluster",
        "working_scale": factor,
        "keypoints": int(len(points)),
        "matches": int(len(pairs)),
        "clusters": described,
    }
    return finish(pixels, mask, lines, described, data, "keypoint matches")


def describe(
    affine: np.ndarray, size: int, factor: float, from_points: np.ndarray, to_points: np.ndarray
) -> dict:
    """A cluster for the report. dx, dy: how far the copy's centre moved, in original-image
    pixels (the model's own translation is about the image corner, meaningless once rotated)."""
    facts = model_facts(affine)
    move = (to_points.mean(axis=0) - from_points.mean(axis=0)) / factor
    facts["dx"], facts["dy"] = float(move[0]), float(move[1])
    linear = (affine[:, :2]).ravel().tolist()
    return {"size": int(size), **{k: round(v, 3) for k, v in facts.items()}, "linear": linear}


def finish(
    pixels: np.ndarray, mask: np.ndarray, lines: list, clusters: list[dict], data: dict, unit: str
) -> AnalysisResult:
    """The common result: the photo itself (shared, not copied) under the mask and lines,
    score = largest cluster, findings per cluster."""
    score = float(clusters[0]["size"]) if clusters else 0.0
    findings = []
    for cluster in clusters[:5]:
        move = f"moved by ({cluster['dx']:+.0f}, {cluster['dy']:+.0f}) px"
        if abs(cluster["rotation"]) >= 2 or abs(cluster["scale"] - 1) >= 0.03:
            move += f", rotated {cluster['rotation']:+.0f} deg, scaled x{cluster['scale']:.2f}"
        strong = cluster["size"] >= max(STRONG[unit], STRONG_SHARE * data.get("positions", 0))
        what = "Cloned region" if strong else "Possible cloned region (small)"
        findings.append(
            Finding(
                f"{what}: {cluster['size']} {unit} agree on one move, {move}.",
                "warning" if strong else "notice",
            )
        )
    if not clusters:
        findings.append(
            Finding(f"No consistent clone found ({unit}): no trace, not proof of authenticity.")
        )
    data["mask_fraction"] = float(mask.mean()) if mask.size else 0.0
    return AnalysisResult(
        image=pixels, mask=mask, lines=lines, score=score, findings=findings, data=data
    )


class CloneAnalysis:
    name = "clone"
    title = "Clone detection"
    help = (
        "Finds regions copied within the same photo (copy-move), which keep the photo's own "
        "compression and noise and so are invisible to ELA. The overlay marks both the source and "
        "the destination, and the lines join matched points; the score is the number of matches "
        "(keypoints) or blocks (dense) that agree on one geometric move. Keypoints handle rotated "
        "and scaled copies but miss smooth areas (sky, walls); the dense method finds those but "
        "only for moves and rotations. Failure mode: genuinely repeated things (windows of a "
        "facade, printed patterns, tiles) match each other and look like clones: check that the "
        "marked regions make sense as an edit."
    )
    params = (METHOD, MAX_SIDE, MIN_DISTANCE, RATIO, MIN_MATCHES, BLOCK)

    def applies_to(self, image: LoadedImage) -> str | None:
        if min(image.pixels.shape[:2]) < 32:
            return "too small (under 32 px)"
        return None

    def run(
        self, image: LoadedImage, params: dict, progress: Progress, cancel: Cancelled
    ) -> AnalysisResult:
        if params["method"] == "dense":
            from .clone_dense import detect_dense

            return detect_dense(image.pixels, params, progress, cancel)
        return detect_keypoints(image.pixels, params, progress, cancel)


register(CloneAnalysis())
