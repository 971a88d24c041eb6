"""Training checkpoints: the last epoch's full state, so a killed run can resume exactly.

``last.pt`` holds the model, optimizer and scheduler states, the best epoch so far (its weights
and validation logits), the patience counter, the history and both random generators' states,
so a resumed run draws the same batches and ends with the same weights as one never stopped.
It is written atomically (core/atomic.py): a kill leaves the previous checkpoint or the new one.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from ..core.atomic import atomic_open
from .config import TrainConfig

CHECKPOINT_NAME = "last.pt"


def save_checkpoint(folder: Path, payload: dict) -> None:
    with atomic_open(folder / CHECKPOINT_NAME) as handle:
        torch.save(payload, handle)


def load_checkpoint(folder: Path, config: TrainConfig) -> dict | None:
    """The last checkpoint of a run with the same settings, or None when there is none."""
    path = folder / CHECKPOINT_NAME
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a checkpoint is written atomically; this is another file
        raise ValueError(f"{path}: cannot be resumed from ({type(error).__name__})") from None
    mine, theirs = asdict(config), dict(payload.get("config", {}))
    # Only what changes the trajectory must match; more epochs or another --out may differ.
    for key in ("recipe", "batch_size", "lr", "lr_decay", "seed", "val_fraction", "monitor",
                "balance_classes", "tiles_per_image", "hflip", "tile_mask_fraction"):  # fmt: skip
        if mine.get(key) != theirs.get(key):
            raise ValueError(
                f"{path} was made with {key}={theirs.get(key)!r}, not {mine.get(key)!r}: "
                "resume with the same settings or start again without --resume"
            )
    return payload
