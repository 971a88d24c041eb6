"""What a finished localiser run writes into its model card, and its reproduce command."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from . import metrics as m
from .local_features import DCT_CLIP, RESIDUAL_QUALITIES
from .localiser import ARCHITECTURE, ARCHITECTURE_VERSION
from .localiser_config import LocaliserConfig
from .localiser_sources import cache_counts
from .modelfile import ModelCard


def localiser_report(scores, calibration, labels, cache, best_epoch, history, started) -> dict:
    probs = calibration["probs"]
    report = m.classification_report(labels, probs, calibration["threshold"])
    kinds = {}
    for kind in sorted(set(cache.kinds)):
        rows = [i for i, k in enumerate(cache.kinds) if k == kind]
        flagged = float(np.mean(probs[rows] >= calibration["threshold"]))
        kinds[kind] = {"count": len(rows), "flagged": flagged}
    return m.json_safe({
        "validation": report,
        "pixel_auc_median": scores["pixel_auc_median"],
        "pixel_f1_median": scores["pixel_f1_median"],
        "flagged_by_kind": kinds,
        "temperature": calibration["temperature"],
        "offset": calibration["offset"],
        "threshold": calibration["threshold"],
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "seconds": round(time.perf_counter() - started, 1),
        "note": "threshold, temperature and offset are fitted on this validation set "
        "(training side only), so its numbers are optimistic; see bench/detection.py for "
        "held-out makes.",
    })  # fmt: skip


def reproduce_command(config: LocaliserConfig) -> str:
    import shlex

    parts = ["forensic-viewer", "train"]
    if config.dataset:
        parts.append(str(config.dataset))
    parts += ["--recipe", "localiser", "--out", str(config.out or "localiser.safetensors")]
    if config.synthetic:
        parts += ["--synthetic", str(config.synthetic)]
    for make in config.exclude_makes:
        parts += ["--exclude-make", make]
    parts += ["--epochs", str(config.epochs), "--batch-size", str(config.batch_size),
              "--lr", str(config.lr), "--seed", str(config.seed),
              "--per-photo", str(config.per_photo), "--max-side", str(config.max_side),
              "--val-by", config.val_by, "--inputs", ",".join(config.inputs),
              "--loader", config.loader]  # fmt: skip
    if config.loader == "stream":
        parts += ["--stream-workers", str(config.stream_workers)]
    if config.time_budget_min is not None:
        parts += ["--time-budget", str(config.time_budget_min)]
    return shlex.join(parts)


def localiser_card(
    config, summary, report, history, device, precision, cancelled, train_cache, val_cache,
    calibration,
) -> ModelCard:  # fmt: skip
    name = Path(config.out).name.removesuffix(".safetensors") if config.out else "localiser"
    settings = asdict(config)
    recipe = {
        "name": "localiser",
        "inputs": list(config.inputs),
        "residual_qualities": list(RESIDUAL_QUALITIES),
        "dct_clip": DCT_CLIP,
        "offset": float(calibration["offset"]),
        "map_threshold": float(calibration["map_threshold"]),
        "formats": ["jpeg"],
    }
    training = {
        "sources": summary,
        "train": cache_counts(train_cache),
        "val": cache_counts(val_cache),
        "config": settings,
        "device": device,
        "precision": precision,
        "torch": torch.__version__,
        "history": history,
        "cancelled": cancelled,
    }
    return ModelCard(
        name=name,
        architecture=ARCHITECTURE,
        architecture_version=ARCHITECTURE_VERSION,
        recipe=recipe,
        threshold=float(calibration["threshold"]),
        temperature=float(calibration["temperature"]),
        training=m.json_safe(training),
        metrics=report,
        reproduce=reproduce_command(config),
        notes=("dry run: not a usable model. " if config.dry_run else "")
        + ("cancelled: best epoch so far. " if cancelled else ""),
    )
