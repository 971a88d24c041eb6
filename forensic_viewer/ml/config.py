"""Training settings, importable without torch (the CLI builds its parser from these defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from .preprocess import RECIPES, Recipe

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    recipe: str | Recipe = "classic"
    """A name from preprocess.RECIPES, or a Recipe (e.g. a smaller input size)."""
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-4
    lr_decay: float = 1e-4 / 30
    """Keras-style decay per batch: lr = lr0 / (1 + lr_decay * iteration)."""
    patience: int = 2
    monitor: str = "val_acc"
    """What early stopping and the best epoch follow: 'val_acc', 'val_loss' or 'val_auc'."""
    val_fraction: float = 0.2
    seed: int = 0
    device: str = "auto"
    bf16: str = "auto"
    """'auto' (on CPUs with native bfloat16), 'on' or 'off'."""
    balance_classes: bool = False
    """Weight the loss by inverse class frequency."""
    tiles_per_image: int = 8
    hflip: bool | None = None
    """Random horizontal flips; None = the recipe's default (tiles yes, classic no)."""
    tile_mask_fraction: float = 0.1
    """Tiles recipe with masks: a tile is tampered when at least this much of it is masked."""
    dry_run: bool = False
    resume: bool = False
    """Continue from ``checkpoint_dir``'s last checkpoint when there is one (same settings)."""
    workers: int = 2
    checkpoint_dir: str | None = None
    out: str | None = None
    """Save the final model here (not when cancelled)."""
    half_weights: bool = False

    def recipe_object(self) -> Recipe:
        if isinstance(self.recipe, Recipe):
            return self.recipe
        if self.recipe not in RECIPES:
            raise ValueError(f"unknown recipe {self.recipe!r} (known: {', '.join(RECIPES)})")
        return RECIPES[self.recipe]
