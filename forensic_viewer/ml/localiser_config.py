"""Settings of the localiser recipe, importable without torch (the CLI's parser uses them)."""

from __future__ import annotations

from dataclasses import dataclass, field

INPUT_GROUPS = ("dct", "residual", "phase")
"""Feature groups the network reads; an ablation leaves some out (their channels are zeroed)."""


@dataclass
class LocaliserConfig:
    dataset: str | None = None
    """A labelled folder with masks (e.g. CASIA); split by group, seed ``seed``."""
    synthetic: str | None = None
    """A folder of untouched photos, source of generated pairs (``ml.synthetic``)."""
    exclude_makes: tuple[str, ...] = ()
    """Camera makes never used (e.g. the benchmark's held-out makes)."""
    val_by: str = "make"
    """Generated pairs are split into training and validation by 'make' or by 'photo'."""
    val_fraction: float = 0.2
    per_photo: int = 4
    """Generated rounds per training photo (each: one tampered image and its pair, plus
    innocent-operation authentics)."""
    max_side: int = 512
    val_resave_quality: int = 90
    """The labelled validation split is re-saved once at this quality (both classes alike)."""
    epochs: int = 30
    batch_size: int = 16
    crop_blocks: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    device: str = "auto"
    bf16: str = "auto"
    workers: int = 2
    threads: int = 1
    """torch threads for training on the CPU. One: on this shared 2-core machine a step with two
    OpenMP threads took 7.5 s against 0.12 s with one (threads spin at barriers waiting for a
    core another process holds); the feature workers use the other core."""
    loader: str = "stream"
    """'stream': a DataLoader's workers generate fresh pairs and re-saves in the background and
    replace the oldest training items (``localiser_stream``); 'cache': the cached items only
    (bit-for-bit reproducible under a seed)."""
    stream_workers: int = 1
    """Worker processes of the 'stream' loader (on 2 cores: one, beside one torch thread)."""
    inputs: tuple[str, ...] = INPUT_GROUPS
    time_budget_min: float | None = None
    """Stop after the epoch that passes this many minutes of training (not counting features)."""
    max_false_alarm: float = 0.02
    """The threshold flags at most this share of authentic validation images."""
    cache_dir: str | None = None
    checkpoint_dir: str | None = None
    out: str | None = None
    dry_run: bool = False
    half_weights: bool = False
    extra: dict = field(default_factory=dict)
