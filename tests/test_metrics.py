"""Metrics and calibration on hand-computed cases, plus brute-force cross-checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forensic_viewer.ml import metrics as m
from forensic_viewer.ml.preprocess import Recipe

SMALL = Recipe(name="small", size=32)
SMALL_TILES = Recipe(name="small-tiles", mode="tiles", size=32, tile_stride=16)


def test_confusion_accuracy_balanced():
    y_true = [0, 0, 1, 1, 1]
    y_pred = [0, 1, 1, 1, 0]
    assert m.confusion_matrix(y_true, y_pred).tolist() == [[1, 1], [1, 2]]
    assert m.accuracy(y_true, y_pred) == pytest.approx(3 / 5)
    assert m.balanced_accuracy(y_true, y_pred) == pytest.approx((1 / 2 + 2 / 3) / 2)
    # One class only: balanced accuracy is that class's recall.
    assert m.balanced_accuracy([1, 1, 1, 1], [1, 0, 1, 1]) == pytest.approx(0.75)


def test_predict_labels_threshold_is_inclusive():
    assert m.predict_labels([0.2, 0.5, 0.7], 0.5).tolist() == [0, 1, 1]


def test_roc_auc_without_ties():
    # Pairs (positive, negative): 0.35>0.1 yes, 0.35>0.4 no, 0.8 beats both -> 3 of 4.
    assert m.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)


def test_roc_auc_with_ties_counts_half():
    # Positives 0.5, 0.9; negatives 0.5, 0.2: tie (0.5), win, win, win -> 3.5 / 4.
    assert m.roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == pytest.approx(0.875)
    assert m.roc_auc([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3]) == pytest.approx(0.5)
    assert m.roc_auc([1, 1, 0], [0.1, 0.2, 0.9]) == pytest.approx(0.0)


def test_roc_auc_single_class_is_nan():
    assert math.isnan(m.roc_auc([1, 1], [0.2, 0.9]))


def _brute_auc(y, s):
    pos = [b for a, b in zip(y, s, strict=True) if a == 1]
    neg = [b for a, b in zip(y, s, strict=True) if a == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 6).map(lambda v: v / 6)),
        min_size=2,
        max_size=25,
    )
)
def test_roc_auc_matches_pairwise_count_and_curve_area(pairs):
    y = [a for a, _ in pairs]
    s = [b for _, b in pairs]
    if len(set(y)) < 2:
        return
    auc = m.roc_auc(y, s)
    assert auc == pytest.approx(_brute_auc(y, s), abs=1e-12)
    fpr, tpr, _ = m.roc_curve(y, s)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auc, abs=1e-12)


def test_roc_curve_points_with_a_tie():
    fpr, tpr, thresholds = m.roc_curve([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])
    assert fpr.tolist() == [0.0, 0.0, 0.5, 1.0]
    assert tpr.tolist() == [0.0, 0.5, 1.0, 1.0]
    assert thresholds.tolist() == [math.inf, 0.9, 0.5, 0.2]


def test_choose_threshold_maximises_balanced_accuracy_nearest_half():
    # Candidates 0.225 and 0.6 both give balanced accuracy 0.75; 0.6 is nearer 0.5.
    threshold = m.choose_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert threshold == pytest.approx(0.6)
    # Perfectly separable: any midpoint in the gap separates; the one found is the midpoint.
    assert m.choose_threshold([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9]) == pytest.approx(0.45)
    assert m.choose_threshold([1, 1], [0.3, 0.4]) == 0.5


def test_reliability_curve_and_ece():
    y = [0, 1, 1, 1]
    p = [0.05, 0.15, 0.95, 0.85]
    curve = m.reliability_curve(y, p, bins=10)
    assert [(b["low"], b["count"]) for b in curve] == [(0.0, 1), (0.1, 1), (0.8, 1), (0.9, 1)]
    assert curve[1]["fraction_tampered"] == 1.0
    assert curve[1]["mean_predicted"] == pytest.approx(0.15)
    assert m.expected_calibration_error(y, p) == pytest.approx((0.05 + 0.85 + 0.15 + 0.05) / 4)
    # p = 1.0 falls in the last bin, not past it.
    assert m.reliability_curve([1], [1.0])[0]["low"] == pytest.approx(0.9)
    assert m.expected_calibration_error([1, 0], [1.0, 0.0]) == 0.0


def test_binary_nll_and_softmax():
    assert m.binary_nll([1, 0], [0.8, 0.4]) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    logits = np.array([[0.0, math.log(3.0)]])
    assert m.softmax_tampered(logits)[0] == pytest.approx(0.75)
    assert m.softmax_tampered(logits, 2.0)[0] == pytest.approx(math.sqrt(3) / (1 + math.sqrt(3)))
    # Huge logits do not overflow.
    huge = m.softmax_tampered(np.array([[0.0, 1e6], [1e6, 0.0]]))
    assert huge.tolist() == pytest.approx([1.0, 0.0], abs=1e-12)


def test_fit_temperature_recovers_known_optimum():
    # Every logit difference is 2 ln 3 (p = 0.9 at T = 1) but only 3 of 4 are tampered: the NLL
    # is lowest where sigmoid(2 ln 3 / T) = 0.75, i.e. T = 2.
    logits = np.tile([0.0, 2 * math.log(3.0)], (4, 1))
    assert m.fit_temperature_logits(logits, [1, 1, 1, 0]) == pytest.approx(2.0, rel=1e-3)


def test_golden_section_minimize():
    assert m.golden_section_minimize(lambda x: (x - 1.3) ** 2, 0.0, 5.0) == pytest.approx(
        1.3, abs=1e-4
    )


def test_classification_report_and_json_safe():
    report = m.classification_report([0, 0, 1, 1, 1], [0.1, 0.7, 0.6, 0.9, 0.2], 0.5)
    assert report["confusion_matrix"] == [[1, 1], [1, 2]]
    assert report["per_class"] == {"authentic": 2, "tampered": 3}
    assert report["authentic_flagged"] == pytest.approx(0.5)
    assert report["tampered_detected"] == pytest.approx(2 / 3)
    # Pairs: 0.6 beats 0.1 only, 0.9 beats both, 0.2 beats 0.1 only -> 4 / 6.
    assert report["roc_auc"] == pytest.approx(4 / 6)
    safe = m.json_safe({"a": float("nan"), "b": [np.float32(0.5), np.int64(3)], "c": "x"})
    assert safe == {"a": None, "b": [0.5, 3], "c": "x"}


def test_calibration_fits_temperature_on_overconfident_logits():
    # Scores 0.982 / 0.018 where the truth is 70% / 30%: T = 4 / logit(0.7) makes them 0.7 / 0.3.
    logits = [np.array([[0.0, 4.0]])] * 10 + [np.array([[0.0, -4.0]])] * 10
    labels = np.array([1] * 7 + [0] * 3 + [0] * 7 + [1] * 3)
    report = m.calibrate_and_report(logits, labels, SMALL)
    assert report["temperature"] == pytest.approx(4 / np.log(0.7 / 0.3), rel=1e-3)
    assert report["ece_before"] == pytest.approx(1 / (1 + np.exp(-4)) - 0.7)
    assert report["ece_after"] == pytest.approx(0.0, abs=1e-3)
    assert report["validation"]["confusion_matrix"] == [[7, 3], [3, 7]]
    assert report["validation"]["roc_auc"] == pytest.approx(0.5 + 0.5 * (0.7 * 0.7 - 0.3 * 0.3))
    # Tiles: per-tile temperature, then the recipe's aggregation (top2mean of the two tiles).
    tiles = [np.array([[0.0, 2.0], [0.0, 0.0]])]
    assert m.image_scores(tiles, SMALL_TILES)[0] == pytest.approx((1 / (1 + np.exp(-2)) + 0.5) / 2)
