"""Classification metrics, calibration and threshold choice for a binary verdict (numpy only).

Convention: label 1 = tampered (positive), score = P(tampered); the verdict is tampered when
``score >= threshold``. Confusion matrices are ``[[TN, FP], [FN, TP]]`` (rows: true class).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .preprocess import Recipe, aggregate_tiles


def _labels(y_true) -> np.ndarray:
    return np.asarray(y_true, dtype=np.int64).ravel()


def _scores(scores) -> np.ndarray:
    return np.asarray(scores, dtype=np.float64).ravel()


def predict_labels(scores, threshold: float = 0.5) -> np.ndarray:
    return (_scores(scores) >= threshold).astype(np.int64)


def confusion_matrix(y_true, y_pred) -> np.ndarray:
    """2 x 2 int64 counts, rows = true class, columns = predicted class."""
    matrix = np.zeros((2, 2), dtype=np.int64)
    np.add.at(matrix, (_labels(y_true), _labels(y_pred)), 1)
    return matrix


def accuracy(y_true, y_pred) -> float:
    y_true, y_pred = _labels(y_true), _labels(y_pred)
    return float(np.mean(y_true == y_pred)) if y_true.size else float("nan")


def balanced_accuracy(y_true, y_pred) -> float:
    """Mean recall over the classes present in ``y_true``."""
    matrix = confusion_matrix(y_true, y_pred)
    support = matrix.sum(axis=1)
    recalls = [matrix[c, c] / support[c] for c in range(2) if support[c]]
    return float(np.mean(recalls)) if recalls else float("nan")


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing the mean of their ranks (as in the Mann-Whitney U test)."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(values.size, dtype=np.float64)
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], values.size]
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + 1 + end) / 2.0
    return ranks


def roc_auc(y_true, scores) -> float:
    """Exact area under the ROC curve: P(score_pos > score_neg) + 0.5 P(tie). NaN if one class."""
    y_true, scores = _labels(y_true), _scores(scores)
    positives = int(y_true.sum())
    negatives = y_true.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = _average_ranks(scores)
    rank_sum = ranks[y_true == 1].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def roc_curve(y_true, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) from (0, 0) at threshold +inf down to (1, 1); ties form one step."""
    y_true, scores = _labels(y_true), _scores(scores)
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_true = scores[order], y_true[order]
    last_of_tie = np.r_[np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]), scores.size - 1]
    tps = np.cumsum(sorted_true)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    positives, negatives = max(int(y_true.sum()), 1), max(int((y_true == 0).sum()), 1)
    fpr = np.r_[0.0, fps / negatives]
    tpr = np.r_[0.0, tps / positives]
    thresholds = np.r_[np.inf, sorted_scores[last_of_tie]]
    return fpr, tpr, thresholds


def choose_threshold(y_true, scores) -> float:
    """The threshold that maximises balanced accuracy (equivalently Youden's J = TPR - FPR).

    Candidate thresholds are midpoints between consecutive distinct scores (plus both ends), so
    the choice does not sit on a training example; among equally good ones, the one nearest 0.5.
    """
    y_true, scores = _labels(y_true), _scores(scores)
    distinct = np.unique(scores)
    if distinct.size == 0 or y_true.min() == y_true.max():
        return 0.5
    candidates = np.r_[distinct[0] - 1e-6, (distinct[1:] + distinct[:-1]) / 2, distinct[-1] + 1e-6]
    candidates = np.clip(candidates, 0.0, 1.0)
    best, best_value = 0.5, -1.0
    for threshold in candidates:
        value = balanced_accuracy(y_true, predict_labels(scores, threshold))
        better = value > best_value + 1e-12
        tie_nearer = abs(value - best_value) <= 1e-12 and abs(threshold - 0.5) < abs(best - 0.5)
        if better or tie_nearer:
            best, best_value = float(threshold), value
    return best


def reliability_curve(y_true, scores, bins: int = 10) -> list[dict]:
    """Per equal-width bin of P(tampered): mean predicted probability, observed tampered fraction
    and count (empty bins left out)."""
    y_true, scores = _labels(y_true), _scores(scores)
    index = np.minimum((scores * bins).astype(np.int64), bins - 1)
    curve = []
    for b in range(bins):
        chosen = index == b
        count = int(chosen.sum())
        if count:
            curve.append(
                {
                    "low": b / bins,
                    "high": (b + 1) / bins,
                    "mean_predicted": float(scores[chosen].mean()),
                    "fraction_tampered": float(y_true[chosen].mean()),
                    "count": count,
                }
            )
    return curve


def expected_calibration_error(y_true, scores, bins: int = 10) -> float:
    """Count-weighted mean |mean P(tampered) - observed tampered fraction| over the bins."""
    curve = reliability_curve(y_true, scores, bins)
    total = sum(b["count"] for b in curve)
    if not total:
        return float("nan")
    gaps = sum(b["count"] * abs(b["mean_predicted"] - b["fraction_tampered"]) for b in curve)
    return float(gaps / total)


def binary_nll(y_true, scores, eps: float = 1e-7) -> float:
    """Mean negative log-likelihood of the labels under P(tampered) = scores."""
    y_true, scores = _labels(y_true), np.clip(_scores(scores), eps, 1.0 - eps)
    return float(-np.mean(np.where(y_true == 1, np.log(scores), np.log1p(-scores))))


def softmax_tampered(logits, temperature: float = 1.0) -> np.ndarray:
    """P(tampered) = softmax(logits / T)[:, 1] for N x 2 logits, computed stably."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    return 1.0 / (1.0 + np.exp(np.clip(z[:, 0] - z[:, 1], -700, 700)))


def golden_section_minimize(
    function: Callable[[float], float], low: float, high: float, tolerance: float = 1e-4
) -> float:
    """Minimiser of a unimodal function on [low, high]."""
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = low, high
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = function(c), function(d)
    while b - a > tolerance:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = function(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = function(d)
    return (a + b) / 2.0


def fit_temperature(
    nll_at: Callable[[float], float], low: float = 0.05, high: float = 20.0
) -> float:
    """Temperature T minimising ``nll_at(T)`` (searched on log T; NLL is unimodal in it)."""
    log_t = golden_section_minimize(lambda v: nll_at(math.exp(v)), math.log(low), math.log(high))
    return float(math.exp(log_t))


def fit_temperature_logits(logits, y_true) -> float:
    """Temperature scaling (Guo et al. 2017) fitted on validation logits (N x 2)."""
    return fit_temperature(lambda t: binary_nll(y_true, softmax_tampered(logits, t)))


def classification_report(y_true, scores, threshold: float = 0.5) -> dict:
    """Everything the model card and the results page show, at one threshold."""
    y_true, scores = _labels(y_true), _scores(scores)
    y_pred = predict_labels(scores, threshold)
    matrix = confusion_matrix(y_true, y_pred)
    authentic = int(matrix[0].sum())
    tampered = int(matrix[1].sum())
    return {
        "threshold": float(threshold),
        "count": int(y_true.size),
        "per_class": {"authentic": authentic, "tampered": tampered},
        "confusion_matrix": matrix.tolist(),
        "accuracy": accuracy(y_true, y_pred),
        "balanced_accuracy": balanced_accuracy(y_true, y_pred),
        "roc_auc": roc_auc(y_true, scores),
        "authentic_flagged": float(matrix[0, 1] / authentic) if authentic else float("nan"),
        "tampered_detected": float(matrix[1, 1] / tampered) if tampered else float("nan"),
        "ece": expected_calibration_error(y_true, scores),
        "nll": binary_nll(y_true, scores),
    }


def json_safe(value):
    """Replace NaN/inf by None recursively, so model cards and --json output stay valid JSON."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def image_scores(logits: list[np.ndarray], recipe: Recipe, temperature: float = 1.0) -> np.ndarray:
    """Image-level P(tampered): softmax(logits / T), tiles aggregated as the recipe says."""
    return np.array(
        [aggregate_tiles(softmax_tampered(z, temperature), recipe.aggregate) for z in logits]
    )


def calibrate_and_report(logits: list[np.ndarray], labels: np.ndarray, recipe: Recipe) -> dict:
    """Temperature, threshold and the metrics for the card (all fitted on validation)."""
    raw = image_scores(logits, recipe)
    fitted = fit_temperature(lambda t: binary_nll(labels, image_scores(logits, recipe, t)))
    candidate = image_scores(logits, recipe, fitted)
    # Temperature scaling minimises NLL; it is kept only when it also brings the reliability
    # curve closer to the diagonal (lower ECE), which is what 'Tampered 80%' has to mean.
    helps = binary_nll(labels, candidate) < binary_nll(labels, raw) and (
        expected_calibration_error(labels, candidate) < expected_calibration_error(labels, raw)
    )
    temperature, calibrated = (fitted, candidate) if helps else (1.0, raw)
    threshold = choose_threshold(labels, calibrated)
    fpr, tpr, _ = roc_curve(labels, calibrated)
    return json_safe(
        {
            "validation": classification_report(labels, calibrated, threshold),
            "validation_uncalibrated_at_0.5": classification_report(labels, raw, 0.5),
            "temperature": temperature,
            "fitted_temperature": fitted,
            "ece_fitted": expected_calibration_error(labels, candidate),
            "threshold": threshold,
            "ece_before": expected_calibration_error(labels, raw),
            "ece_after": expected_calibration_error(labels, calibrated),
            "reliability_before": reliability_curve(labels, raw),
            "reliability_after": reliability_curve(labels, calibrated),
            "roc_curve": {"fpr": fpr.round(5).tolist(), "tpr": tpr.round(5).tolist()},
            "note": "threshold and temperature are fitted on this validation split, so the "
            "calibrated numbers are optimistic; the uncalibrated row at 0.5 is not tuned.",
        }
    )
