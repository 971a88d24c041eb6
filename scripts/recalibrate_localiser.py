"""Refit a localiser model file's calibration on its own validation set, weights untouched.

    .venv/bin/python scripts/recalibrate_localiser.py MODEL [--cache-dir DIR]

Rebuilds (or reads from the feature caches) the validation split the card's training config
names, computes the float32 block maps of the model as the trainer does (``predict_maps``), and
fits ``calibrate`` and the map threshold again; the card's recipe offset and map threshold, its
threshold and temperature, and its metrics are replaced; the tensor data is copied byte for byte
(checked). Used once: the run of 2026-12-02 saved a calibration from the old, divergent Platt fit
(T 0.001: every P was 0), found and fixed after the run; its weights are what training chose.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import fields
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from forensic_viewer.ml import modelformat  # noqa: E402
from forensic_viewer.ml.localiser_card import localiser_report  # noqa: E402
from forensic_viewer.ml.localiser_config import LocaliserConfig  # noqa: E402
from forensic_viewer.ml.localiser_predict import load_localiser  # noqa: E402
from forensic_viewer.ml.localiser_sources import training_sources  # noqa: E402
from forensic_viewer.ml.localiser_train import (  # noqa: E402
    _sigmoid,
    best_map_logit,
    calibrate,
    channel_keep,
    map_metrics,
    predict_maps,
)


def drain(generator):
    try:
        while True:
            next(generator)
    except StopIteration as stop:
        return stop.value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--cache-dir", help="the feature caches (default: the card's config)")
    args = parser.parse_args()
    loaded = load_localiser(args.model)
    card, _ = modelformat.read_card(args.model)
    settings = card["training"]["config"]
    known = {f.name for f in fields(LocaliserConfig)}
    config = LocaliserConfig(**{k: v for k, v in settings.items() if k in known})
    config.inputs, config.exclude_makes = tuple(config.inputs), tuple(config.exclude_makes)
    if args.cache_dir:
        config.cache_dir = args.cache_dir
    _, val_cache, _, _ = drain(training_sources(config, None))
    torch.set_num_threads(2)
    keep = channel_keep(config.inputs)
    maps = drain(predict_maps(loaded.model, val_cache, keep, torch.device("cpu")))
    scores = map_metrics(maps, val_cache)
    labels = np.array(val_cache.labels)
    calibration = calibrate(scores["pooled"], labels, config.max_false_alarm)
    z = (best_map_logit(maps, val_cache) - calibration["offset"]) / calibration["temperature"]
    calibration["map_threshold"] = float(_sigmoid(z))
    old = card["metrics"]
    history = card["training"]["history"]
    report = localiser_report(scores, calibration, labels, val_cache, old["best_epoch"], history,
                              time.perf_counter())  # fmt: skip
    report["seconds"] = old.get("seconds")
    report["recalibrated"] = (
        "calibration refitted after training by scripts/recalibrate_localiser.py"
    )
    card["metrics"] = report
    card["threshold"] = calibration["threshold"]
    card["temperature"] = calibration["temperature"]
    card["recipe"]["offset"] = calibration["offset"]
    card["recipe"]["map_threshold"] = calibration["map_threshold"]
    modelformat.replace_card(args.model, card)
    after = load_localiser(args.model)
    assert after.card.weights_sha256 == loaded.card.weights_sha256
    print(f"validation image AUC {report['validation']['roc_auc']:.4f}, pixel AUC median "
          f"{report['pixel_auc_median']:.4f}; T {calibration['temperature']:.4f}, offset "
          f"{calibration['offset']:.4f}, threshold {calibration['threshold']:.4f}, map threshold "
          f"{calibration['map_threshold']:.4f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
