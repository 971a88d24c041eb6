"""The detection benchmark's figures, from per-image scores (numpy only).

- Image ROC AUC of each tampering kind against the compression-matched authentic images of the
  same pairs (``pair_authentic`` sharing the pair id), so the last save cannot separate them.
- Share flagged (verdict state 'tampered' at the scorer's own threshold) and share inconclusive,
  for each authentic operation and each tampering kind.
- Localisation on tampered images: pixel ROC AUC and F1 (map >= the scorer's map threshold)
  against the mask, as medians over images.
- The same per final-save quality bucket, and for CASIA as is and re-saved.

Images whose scorer gave no number (p None) are left out of AUCs and counted as inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .metrics import roc_auc
from .scorers import INCONCLUSIVE, TAMPERED
from .suite import CAMERA, QUALITY_BUCKETS, SuiteItem
from .synthetic import INNOCENT_KINDS, TAMPERED_KINDS

CASIA_CATEGORIES = ("casia", "casia-q75", "casia-q90")


@dataclass(frozen=True)
class Scored:
    item: SuiteItem
    p: float | None
    state: str
    pixel_auc: float | None = None
    pixel_f1: float | None = None
    over: bool | None = None
    """P(tampered) >= the scorer's threshold, whatever the state (None: no number): what the
    model would have said where the verdict rules made it inconclusive."""


def pixel_scores(mask: np.ndarray, heatmap: np.ndarray, threshold: float) -> tuple[float, float]:
    """(pixel ROC AUC, F1 of heatmap >= threshold) of a map against a boolean mask."""
    if mask.shape != heatmap.shape:
        raise ValueError(f"map {heatmap.shape} does not match mask {mask.shape}")
    truth = mask.ravel()
    auc = roc_auc(truth, heatmap.ravel())
    predicted = heatmap.ravel() >= threshold
    hits = int(np.count_nonzero(predicted & truth))
    denominator = int(np.count_nonzero(predicted)) + int(np.count_nonzero(truth))
    return auc, (2.0 * hits / denominator if denominator else float("nan"))


def _median(values: Iterable[float | None]) -> float:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.median(kept)) if kept else float("nan")


def _share(rows: list[Scored], state: str) -> float:
    return sum(r.state == state for r in rows) / len(rows) if rows else float("nan")


def _over(rows: list[Scored]) -> float:
    """Share with P(tampered) at or over the threshold, the verdict rules ignored."""
    return sum(bool(r.over) for r in rows) / len(rows) if rows else float("nan")


def _auc(positives: list[Scored], negatives: list[Scored]) -> float:
    pos = [r.p for r in positives if r.p is not None]
    neg = [r.p for r in negatives if r.p is not None]
    return roc_auc([1] * len(pos) + [0] * len(neg), pos + neg)


def _tampered_row(tampered: list[Scored], authentic: list[Scored]) -> dict:
    return {
        "n": len(tampered),
        "auc": _auc(tampered, authentic),
        "flagged": _share(tampered, TAMPERED),
        "inconclusive": _share(tampered, INCONCLUSIVE),
        "over_threshold": _over(tampered),
        "pixel_auc": _median(r.pixel_auc for r in tampered),
        "pixel_f1": _median(r.pixel_f1 for r in tampered),
    }


def _authentic_row(rows: list[Scored]) -> dict:
    return {
        "n": len(rows),
        "flagged": _share(rows, TAMPERED),
        "inconclusive": _share(rows, INCONCLUSIVE),
        "over_threshold": _over(rows),
    }


def _camera(rows: list[Scored]) -> dict:
    pairs = [r for r in rows if r.item.kind == "pair_authentic"]
    tampered_all = [r for r in rows if r.item.label == 1]
    kinds = {}
    for kind in TAMPERED_KINDS:
        chosen = [r for r in tampered_all if r.item.kind == kind]
        groups = {r.item.group for r in chosen}
        kinds[kind] = _tampered_row(chosen, [r for r in pairs if r.item.group in groups])
    kinds["all tampering"] = _tampered_row(tampered_all, pairs)
    authentic = {k: _authentic_row([r for r in rows if r.item.kind == k]) for k in INNOCENT_KINDS}
    authentic["pair_authentic"] = _authentic_row(pairs)
    authentic["all authentic"] = _authentic_row([r for r in rows if r.item.label == 0])
    buckets = {}
    for name in [b[0] for b in QUALITY_BUCKETS] + ["own tables"]:
        in_bucket = [r for r in rows if r.item.quality == name]
        bucket_tampered = [r for r in in_bucket if r.item.label == 1]
        bucket_pairs = [r for r in in_bucket if r.item.kind == "pair_authentic"]
        innocent = [r for r in in_bucket if r.item.kind in INNOCENT_KINDS]
        buckets[name] = {
            **_tampered_row(bucket_tampered, bucket_pairs),
            "pair_authentic_flagged": _share(bucket_pairs, TAMPERED),
            "innocent_n": len(innocent),
            "innocent_flagged": _share(innocent, TAMPERED),
        }
    return {"tampering": kinds, "authentic": authentic, "quality": buckets}


def _casia(rows: list[Scored]) -> dict:
    authentic = [r for r in rows if r.item.label == 0]
    tampered = [r for r in rows if r.item.label == 1]
    row = _tampered_row(tampered, authentic)
    row["authentic_n"] = len(authentic)
    row["authentic_flagged"] = _share(authentic, TAMPERED)
    row["authentic_inconclusive"] = _share(authentic, INCONCLUSIVE)
    row["authentic_over_threshold"] = _over(authentic)
    return row


def summarise(scored: list[Scored]) -> dict:
    """Every figure of the benchmark for one scorer (NaN where a figure has no data)."""
    summary: dict = {}
    camera = [r for r in scored if r.item.category == CAMERA]
    if camera:
        summary["camera"] = _camera(camera)
    for category in CASIA_CATEGORIES:
        rows = [r for r in scored if r.item.category == category]
        if rows:
            summary[category] = _casia(rows)
    return summary


@dataclass(frozen=True)
class ScoringProgress:
    done: int
    total: int
    scored: Scored


def load_mask(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("L")) > 127


def score_items_iter(scorer, items: list[SuiteItem]) -> Iterable[ScoringProgress]:
    """Score every item with ``scorer`` (see ``ml.scorers``), one progress event per image.
    Maps are asked for only where there is a mask to score them against."""
    from pathlib import Path

    for index, item in enumerate(items):
        want_map = item.label == 1 and item.mask is not None
        result = scorer.score(Path(item.file).read_bytes(), want_map=want_map)
        pixel_auc = pixel_f1 = None
        if want_map and result.map is not None:
            pixel_auc, pixel_f1 = pixel_scores(
                load_mask(item.mask), result.map, scorer.map_threshold
            )
        over = None if result.p is None else bool(result.p >= scorer.threshold)
        scored = Scored(item, result.p, result.verdict_state, pixel_auc, pixel_f1, over)
        yield ScoringProgress(index + 1, len(items), scored)
