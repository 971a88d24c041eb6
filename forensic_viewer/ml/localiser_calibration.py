"""Calibration of the block localiser on its validation split: Platt scaling of the pooled
image logit with a false-alarm-bounded threshold, and the block threshold of the binary map."""

from __future__ import annotations

import math

import numpy as np

from .data import AUTHENTIC
from .localiser_data import FeatureCache


def best_map_logit(maps, cache: FeatureCache) -> float:
    """The block-logit threshold with the highest median F1 over tampered validation images
    (blocks at least half inside the mask count as tampered), searched on a grid of logits."""
    pairs = [(mp, t >= 128) for mp, t, label in zip(maps, cache.targets, cache.labels, strict=True)
             if label != AUTHENTIC and (t >= 128).any()]  # fmt: skip
    if not pairs:
        return 0.0
    best, best_f1 = 0.0, -1.0
    for threshold in np.linspace(-4.0, 4.0, 81):
        f1s = []
        for mp, positive in pairs:
            predicted = mp >= threshold
            tp = float((predicted & positive).sum())
            f1s.append(2 * tp / max(float(predicted.sum() + positive.sum()), 1.0))
        median = float(np.median(f1s))
        if median > best_f1:
            best, best_f1 = float(threshold), median
    return best


def _sigmoid(x):
    # exp of a large negative logit overflows to inf, which gives the right limit 0
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def _platt_nll(w, u, t) -> float:
    logits = w[0] * u + w[1]
    return float(np.sum(np.logaddexp(0.0, logits) - t * logits))


def calibrate(pooled: np.ndarray, labels: np.ndarray, max_false_alarm: float) -> dict:
    """Platt scaling P = sigmoid((z - offset) / T) fitted on validation, and a threshold flagging
    at most ``max_false_alarm`` of authentic validation images (>= 0.5).

    Platt's own recipe: targets (N+ + 1) / (N+ + 2) and 1 / (N- + 2) instead of 1 and 0, so a
    fit on well-separated scores stays finite, and Newton steps on standardised scores, halved
    until the likelihood improves. (Plain Newton steps from a cold start diverged on a long
    run's pooled logits: T hit its floor and every P became 0.)"""
    z, y = pooled.astype(np.float64), labels.astype(np.float64)
    positives, negatives = float((y == 1).sum()), float((y == 0).sum())
    t = np.where(y == 1, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    mean, spread = float(z.mean()) if z.size else 0.0, float(z.std()) if z.size else 1.0
    spread = spread if spread > 1e-12 else 1.0
    u = (z - mean) / spread
    w = np.zeros(2)  # P = sigmoid(w0 u + w1)
    for _ in range(100):
        p = _sigmoid(w[0] * u + w[1])
        g = np.array([((p - t) * u).sum(), (p - t).sum()])
        s = p * (1 - p) + 1e-12
        h = np.array([[(s * u * u).sum(), (s * u).sum()], [(s * u).sum(), s.sum()]])
        step = np.linalg.solve(h + 1e-9 * np.eye(2), g)
        base, scale = _platt_nll(w, u, t), 1.0
        while _platt_nll(w - scale * step, u, t) > base and scale > 1e-8:
            scale /= 2
        w = w - scale * step
        if np.abs(scale * step).max() < 1e-10:
            break
    a, b = w[0] / spread, w[1] - w[0] * mean / spread
    # A non-increasing fit would invert the score: keep it monotone, and the temperature 1/a
    # within the range a model card allows (ml.cardcheck).
    a = min(max(a, 1e-3), 1e3)
    probs = _sigmoid(a * z + b)
    authentic = np.sort(probs[y == 0])
    threshold = 0.5
    if authentic.size:
        allowed = int(math.floor(max_false_alarm * authentic.size))
        above = authentic[-(allowed + 1)] if allowed < authentic.size else 0.0
        threshold = float(min(max(0.5, np.nextafter(above, 1.0)), 1.0))
    return {"temperature": 1.0 / a, "offset": -b / a, "threshold": threshold, "probs": probs}
