"""What a finished training run writes into its model card, and the command that reproduces it."""

from __future__ import annotations

import os
import shlex
from dataclasses import fields
from pathlib import Path

import torch

from . import metrics as m
from .config import TrainConfig
from .data import AUTHENTIC, TAMPERED, Sample
from .domain import domain_of_files
from .modelfile import ModelCard
from .preprocess import RECIPES
from .scoring import resolve_device, use_bf16


def _counts(samples: list[Sample]) -> dict:
    return {
        "authentic": sum(s.label == AUTHENTIC for s in samples),
        "tampered": sum(s.label == TAMPERED for s in samples),
        "groups": len({s.group for s in samples}),
    }


def reproduce_command(config: TrainConfig, root: Path) -> str:
    defaults = TrainConfig()
    parts = ["forensic-viewer", "train", str(root)]
    if config.out:
        parts += ["--out", str(config.out)]
    recipe = config.recipe_object()
    parts += ["--recipe", recipe.name]
    named = RECIPES.get(recipe.name)
    if named is not None and named.size != recipe.size:
        parts += ["--input-size", str(recipe.size)]
    # The precision actually used, so the command does not depend on the next machine's CPU.
    parts += ["--bf16", "on" if use_bf16(config.bf16, resolve_device(config.device)) else "off"]
    flags = {
        "epochs": "--epochs",
        "batch_size": "--batch-size",
        "lr": "--lr",
        "lr_decay": "--lr-decay",
        "patience": "--patience",
        "monitor": "--monitor",
        "val_fraction": "--val-fraction",
        "seed": "--seed",
    }
    if config.recipe_object().mode == "tiles":
        flags.update(tiles_per_image="--tiles-per-image", tile_mask_fraction="--tile-mask-fraction")
    for name, flag in flags.items():
        parts += [flag, str(getattr(config, name))]
    if config.balance_classes:
        parts.append("--balance")
    if config.half_weights:
        parts.append("--half")
    if config.hflip is not None and config.hflip != defaults.hflip:
        parts.append("--hflip" if config.hflip else "--no-hflip")
    return shlex.join(parts)


def make_card(
    config, dataset, method, parts, cached, report, history, device, precision, cancelled
):
    recipe = config.recipe_object()
    name = Path(config.out).name.removesuffix(".safetensors") if config.out else recipe.name
    settings = {f.name: getattr(config, f.name) for f in fields(config)}
    settings["recipe"] = recipe.as_dict()
    training = {
        "dataset": dataset.summary(),
        "split": {
            "method": method,
            "val_fraction": config.val_fraction,
            "seed": config.seed,
            "train": _counts(parts["train"].samples),
            "val": _counts(parts["val"].samples),
        },
        "unreadable_files": [[str(p), reason] for p, reason in cached.failed],
        "config": settings,
        "device": device,
        "precision": precision,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "history": history,
        "cancelled": cancelled,
    }
    return ModelCard(
        name=name,
        recipe=recipe.as_dict(),
        threshold=float(report["threshold"]),
        temperature=float(report["temperature"]),
        training=m.json_safe(training),
        metrics=report,
        reproduce=reproduce_command(config, dataset.root),
        domain=domain_of_files(
            [s.path for s in parts["val"].samples],
            f"validation split of {Path(dataset.root).name}: {len(parts['val'].samples)} files",
        ),
        notes=("dry run: not a usable model. " if config.dry_run else "")
        + ("cancelled: best epoch so far. " if cancelled else ""),
    )
