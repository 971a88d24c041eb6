"""Running a network over cached ELA inputs: device and precision, batched scoring (the
trainer's validation and ``evaluate`` share it), and the evaluation of a saved model."""

from __future__ import annotations

import time
from collections.abc import Generator
from contextlib import nullcontext
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from . import metrics as m
from .data import TAMPERED, CachedInputs, Sample, cache_inputs
from .metrics import image_scores
from .modelfile import LoadedModel
from .predict import Cancel
from .preprocess import Recipe
from .tiles import count_tiles, iter_tile_batches


@dataclass(frozen=True)
class ValidationProgress:
    """Scoring the validation images after an epoch (or any images in evaluate)."""

    epoch: int
    batch: int
    batches: int
    images_per_s: float


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was requested but is not available")
    return torch.device(name)


def cpu_has_native_bf16() -> bool:
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def use_bf16(setting: str, device: torch.device) -> bool:
    if setting == "on":
        return True
    if setting == "off":
        return False
    return device.type == "cpu" and cpu_has_native_bf16()


def autocast(device: torch.device, enabled: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else nullcontext()


def to_input(batch_uint8: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 N x 3 x H x W -> float32 / 255, channels-last (exactly classic_input's values)."""
    x = batch_uint8.to(device, non_blocking=True).float().div_(255.0)
    return x.contiguous(memory_format=torch.channels_last)


def score_logits_iter(
    model: nn.Module,
    inputs: CachedInputs,
    recipe: Recipe,
    device: torch.device,
    batch_size: int = 64,
    cancel: Cancel = None,
) -> Generator[ValidationProgress, None, list[np.ndarray] | None]:
    """Per image: logits (1 x 2 for resize recipes, tiles x 2 for tiles), float32, eval mode.

    Yields ValidationProgress (epoch 0); returns None when cancelled.
    """
    model.eval()
    if recipe.mode == "tiles":
        total = count_tiles(inputs.arrays, recipe)
        source = iter_tile_batches(inputs.arrays, recipe, batch_size)
    else:
        stacked = np.stack(inputs.arrays)
        total = len(stacked)
        source = (
            (stacked[i : i + batch_size], np.arange(i, min(i + batch_size, total)))
            for i in range(0, total, batch_size)
        )
    outputs, owners, done = [], [], 0
    batches = -(-total // batch_size)
    started = time.perf_counter()
    with torch.no_grad():
        for batch, (array, owner) in enumerate(source, 1):
            if cancel is not None and cancel():
                return None
            tensor = torch.from_numpy(array)
            if recipe.mode == "tiles":
                tensor = tensor.permute(0, 3, 1, 2)  # NHWC tiles: a channels-last view
            outputs.append(model(to_input(tensor, device)).float().cpu().numpy())
            owners.append(owner)
            done += len(owner)
            yield ValidationProgress(
                0, batch, batches, done / max(time.perf_counter() - started, 1e-9)
            )
    logits = np.concatenate(outputs) if outputs else np.zeros((0, 2), np.float32)
    per_image = np.bincount(np.concatenate(owners), minlength=len(inputs.arrays)) if owners else []
    return np.split(logits, np.cumsum(per_image)[:-1]) if owners else []


def evaluate_iter(
    loaded: LoadedModel,
    samples: list[Sample],
    device: str = "auto",
    workers: int = 2,
    cancel: Cancel = None,
    ignore_domain: bool = False,
) -> Generator[object, None, dict | None]:
    """Yields CachingProgress and ValidationProgress; returns the report (None if cancelled).

    Files the verdict calls inconclusive (``ml.verdict.before_model``: not a JPEG, too small,
    outside the card's domain...) are counted in ``report["inconclusive"]`` and not scored, as
    ``predict`` would not score them; ``ignore_domain`` scores files outside the domain anyway
    (to measure a model there). Raises ValueError for an unavailable device or when no image
    could be read.
    """
    recipe = loaded.recipe
    target = resolve_device(device)  # before the ELA work, so a wrong device fails at once
    samples, inconclusive = split_inconclusive(samples, loaded.card, ignore_domain)
    if not samples and inconclusive["count"]:
        return m.json_safe(_inconclusive_only(loaded, inconclusive))
    inputs = yield from cache_inputs(samples, recipe, workers, cancel)
    if inputs is None:
        return None
    if not inputs.samples:
        raise ValueError(f"none of the {len(samples)} images could be read")
    model = loaded.model.to(target).to(memory_format=torch.channels_last)
    logits = yield from score_logits_iter(model, inputs, recipe, target, cancel=cancel)
    if logits is None:
        return None
    labels = np.array([s.label for s in inputs.samples], dtype=np.int64)
    scores = image_scores(logits, recipe, loaded.card.temperature)
    report = m.classification_report(labels, scores, loaded.card.threshold)
    report["model"] = loaded.card.name
    report["weights_sha256"] = loaded.card.weights_sha256
    report["unreadable_files"] = [[str(p), reason] for p, reason in inputs.failed]
    report["inconclusive"] = inconclusive
    report["verdicts"] = {
        "tampered": int(np.sum(scores >= loaded.card.threshold)),
        "no_trace": int(np.sum(scores < loaded.card.threshold)),
        "inconclusive": inconclusive["count"],
    }
    return m.json_safe(report)


def split_inconclusive(
    samples: list[Sample], card, ignore_domain: bool = False
) -> tuple[list[Sample], dict]:
    """(samples the model may score, counts of the inconclusive ones by class and cause).

    Facts come from file headers (``ml.verdict.header_facts``); a file whose header cannot be
    read is left to the scoring, which reports it as unreadable.
    """
    from .domain import header_facts
    from .verdict import before_model

    scored: list[Sample] = []
    by_class = {"authentic": 0, "tampered": 0}
    causes: dict[str, int] = {}
    bare = replace(card, domain={}) if ignore_domain else card
    for sample in samples:
        try:
            early = before_model(header_facts(sample.path), bare)
        except Exception:  # noqa: BLE001 - unreadable: cache_inputs reports it with a reason
            early = None
        if early is None:
            scored.append(sample)
            continue
        by_class["tampered" if sample.label == TAMPERED else "authentic"] += 1
        causes[early.cause] = causes.get(early.cause, 0) + 1
    count = sum(by_class.values())
    return scored, {"count": count, "per_class": by_class, "causes": dict(sorted(causes.items()))}


def _inconclusive_only(loaded: LoadedModel, inconclusive: dict) -> dict:
    """The report when every file is inconclusive: no metric can be measured."""
    unmeasured = ("accuracy", "balanced_accuracy", "roc_auc", "authentic_flagged")
    report: dict = dict.fromkeys((*unmeasured, "tampered_detected", "ece", "nll"))
    report |= {
        "threshold": loaded.card.threshold,
        "count": 0,
        "per_class": {"authentic": 0, "tampered": 0},
        "confusion_matrix": [[0, 0], [0, 0]],
    }
    report["model"] = loaded.card.name
    report["weights_sha256"] = loaded.card.weights_sha256
    report["unreadable_files"] = []
    report["inconclusive"] = inconclusive
    report["verdicts"] = {"tampered": 0, "no_trace": 0, "inconclusive": inconclusive["count"]}
    return report


def evaluate(loaded: LoadedModel, samples: list[Sample], device: str = "auto") -> dict:
    """evaluate_iter without the progress events."""
    runner = evaluate_iter(loaded, samples, device)
    while True:
        try:
            next(runner)
        except StopIteration as stop:
            return stop.value
