"""The trainer: one generator shared by the CLI and the training wizard.

``train(config, dataset, cancel)`` yields, in this order: :class:`Prepared` (the split),
``CachingProgress`` (ELA inputs), then per epoch :class:`BatchProgress` per batch,
:class:`ValidationProgress` and :class:`EpochEnd`; :class:`EarlyStop` when patience runs out; and
always a last :class:`Finished` (also when cancelled, with the best epoch so far, unsaved).
Defaults are the classic Keras recipe: Adam lr 1e-4 with Keras' per-batch decay
``lr0 / (1 + decay * iteration)``, batch 32, up to 30 epochs, cross-entropy on the 2-way softmax,
early stopping on validation accuracy with patience 2 (the original monitored 'val_acc', which
newer Keras never reports, so it never fired; ours does) and the best epoch's weights restored.

Speed: inputs come from the ELA cache as uint8, the network runs channels-last, and on CPUs with
native bfloat16 (AVX-512 BF16 / AMX) the forward and backward passes run under bf16 autocast
(weights and the optimizer stay float32). Validation always runs in float32, as prediction does.
Scoring, devices and the evaluation of a saved model live in ``scoring``.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import distributed as ddp
from . import metrics as m
from .checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .data import (
    AUTHENTIC,
    TAMPERED,
    CachedInputs,
    CachingProgress,  # noqa: F401 - re-exported: one of the events train() yields
    Dataset,
    Sample,
    cache_inputs,
    split_dataset,
)
from .metrics import calibrate_and_report, image_scores
from .model import ElaCnn
from .modelfile import ModelCard, save_model
from .predict import Cancel
from .preprocess import Recipe
from .scoring import (
    ValidationProgress,  # re-exported: one of the events train() yields
    autocast,
    resolve_device,
    score_logits_iter,
    to_input,
    use_bf16,
)
from .tiles import TileSampler
from .training_card import _counts, make_card, reproduce_command  # noqa: F401 - re-exported

IGNORE = -100
MONITORS: dict[str, Callable] = {
    "val_acc": lambda epoch: epoch.val_acc,
    "val_loss": lambda epoch: -epoch.val_loss,
    # An undefined AUC (one class in validation) never counts as an improvement.
    "val_auc": lambda epoch: epoch.val_auc if math.isfinite(epoch.val_auc) else -math.inf,
}


@dataclass(frozen=True)
class Prepared:
    train_counts: dict
    val_counts: dict
    split_method: str
    warnings: tuple[str, ...]
    device: str
    precision: str


@dataclass(frozen=True)
class BatchProgress:
    epoch: int
    batch: int
    batches: int
    loss: float
    images_per_s: float


@dataclass(frozen=True)
class EpochEnd:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    seconds: float
    lr: float = 0.0
    val_auc: float = float("nan")


@dataclass(frozen=True)
class EarlyStop:
    epoch: int
    best_epoch: int


@dataclass(frozen=True)
class Resumed:
    """Training continues from a checkpoint after ``epoch`` (``--resume``)."""

    epoch: int
    path: Path


@dataclass
class Finished:
    best_epoch: int
    """0 when no epoch finished (cancelled early): then ``model`` is None."""
    metrics: dict
    model: ElaCnn | None
    card: ModelCard | None
    cancelled: bool = False
    saved_path: Path | None = None
    history: list = field(default_factory=list)


def make_optimizer(model: nn.Module, lr: float) -> torch.optim.Adam:
    """Adam with Keras' epsilon (1e-7). The fused kernel updates all 29.5 M weights in one pass
    instead of several (measurably faster on the CPU here; same algorithm)."""
    return torch.optim.Adam(model.parameters(), lr=lr, eps=1e-7, fused=True)


def keras_decay_schedule(optimizer: torch.optim.Optimizer, decay: float):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: 1.0 / (1.0 + decay * it))


def _class_weights(labels: np.ndarray, device: torch.device) -> torch.Tensor:
    counts = np.array([(labels == c).sum() for c in (AUTHENTIC, TAMPERED)], dtype=np.float64)
    weights = np.where(counts > 0, counts.sum() / (2.0 * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32, device=device)


# ---------------------------------------------------------------------------------------------
# Training


class _Batches:
    """Training batches for one recipe: whole-image inputs (classic) or random 8-grid tiles."""

    def __init__(self, inputs: CachedInputs, recipe: Recipe, config: TrainConfig) -> None:
        self.recipe = recipe
        self.config = config
        self.tiles = recipe.mode == "tiles"
        default_flip = self.tiles
        self.hflip = default_flip if config.hflip is None else config.hflip
        if self.tiles:
            self.sampler = TileSampler(
                inputs, recipe.size, config.tile_mask_fraction, recipe.tile_labels == "mask"
            )
        else:
            self.images = torch.from_numpy(np.stack(inputs.arrays))
            self.labels = np.array([s.label for s in inputs.samples], dtype=np.int64)
            # Mirroring the whole image keeps the JPEG grids (8 px luma, 16 px chroma with 4:2:0)
            # where they were only when the width is a multiple of 16.
            self.flippable = np.array([w % 16 == 0 for w in inputs.widths])

    def epoch(self, rng: np.random.Generator) -> np.ndarray:
        """Rows of (index, y, x, label) for tiles, or (index, 0, 0, label) for whole images."""
        if self.tiles:
            per_image = 1 if self.config.dry_run else self.config.tiles_per_image
            return self.sampler.epoch(per_image, rng)
        order = rng.permutation(len(self.labels))
        zeros = np.zeros_like(order)
        return np.stack([order, zeros, zeros, self.labels[order]], axis=1)

    def batch(self, rows: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, np.ndarray]:
        flips = (rng.random(len(rows)) < 0.5) & self.hflip
        if self.tiles:
            tiles = self.sampler.batch(rows, flips)
            return torch.from_numpy(tiles).permute(0, 3, 1, 2), rows[:, 3]
        x = self.images[torch.from_numpy(rows[:, 0])]
        flip = torch.from_numpy(flips & self.flippable[rows[:, 0]])
        if bool(flip.any()):
            x[flip] = x[flip].flip(-1)
        return x, rows[:, 3]


def train_step(model, optimizer, scheduler, loss_fn, x, y, device, bf16: bool):
    """One optimisation step (shared with bench/bench_train.py); returns (loss, logits).

    ``model`` may be wrapped in DistributedDataParallel: backward() then averages the gradients
    over the ranks, and ``loss_fn`` is scaled so that average is the global batch's mean.
    """
    with autocast(device, bf16):
        logits = model(x)
    loss = loss_fn(logits.float(), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()
    return loss, logits


def _tiny(samples: list[Sample], count: int) -> list[Sample]:
    """A few samples of each class (dry runs)."""
    picked = [s for s in samples if s.label == AUTHENTIC][: count // 2]
    picked += [s for s in samples if s.label == TAMPERED][: count - len(picked)]
    return picked


def train(
    config: TrainConfig, dataset: Dataset, cancel: Cancel = None
) -> Generator[object, None, None]:
    """Train a network on ``dataset``; see the module docstring for the events."""
    recipe = config.recipe_object()
    if config.monitor not in MONITORS:
        raise ValueError(f"unknown monitor {config.monitor!r} (known: {', '.join(MONITORS)})")
    device = resolve_device(config.device)
    context = ddp.from_environment(device)
    if context is not None:
        device = context.device
        if config.batch_size < context.world:
            raise ValueError(
                f"--batch-size {config.batch_size} is smaller than {context.world} ranks"
            )
    bf16 = use_bf16(config.bf16, device)
    split = split_dataset(dataset, config.val_fraction, config.seed)
    train_samples, val_samples = split.train, split.val
    if config.dry_run:
        train_samples, val_samples = _tiny(train_samples, 4), _tiny(val_samples, 4)
    if not val_samples or len({s.label for s in train_samples}) < 2:
        raise ValueError("training needs both classes in the training split and a validation split")
    precision = "bf16 autocast" if bf16 else "float32"
    yield Prepared(
        _counts(train_samples), _counts(val_samples), split.method, split.warnings,
        str(device), precision,
    )  # fmt: skip
    cached = yield from cache_inputs(train_samples + val_samples, recipe, config.workers, cancel)
    if cached is None:
        yield Finished(0, {}, None, None, cancelled=True)
        return
    val_set = set(val_samples)
    parts = {}
    for name, wanted in (("train", False), ("val", True)):
        keep = [i for i, s in enumerate(cached.samples) if (s in val_set) == wanted]
        parts[name] = CachedInputs(
            [cached.samples[i] for i in keep], [cached.arrays[i] for i in keep],
            [cached.widths[i] for i in keep], [],
        )  # fmt: skip
    val_labels = np.array([s.label for s in parts["val"].samples], dtype=np.int64)
    if not parts["train"].samples or not val_labels.size:
        raise ValueError("no readable images left in the training or validation split")

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = ElaCnn(recipe.size).to(device).to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, config.lr)
    scheduler = keras_decay_schedule(optimizer, config.lr_decay)
    batches_source = _Batches(parts["train"], recipe, config)
    # A dry run only proves the pipeline: no 350 MB checkpoint for it.
    checkpoint_dir = (
        None if config.dry_run or not config.checkpoint_dir else Path(config.checkpoint_dir)
    )
    epochs = 1 if config.dry_run else config.epochs
    best_value, best_epoch, best_state, best_logits, wait = -math.inf, 0, None, None, 0
    history: list[dict] = []
    cancelled = False
    started = time.perf_counter()
    trained_images = 0
    first_epoch = 1
    payload = load_checkpoint(checkpoint_dir, config) if config.resume and checkpoint_dir else None
    if payload is not None:
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        best_value, best_epoch = payload["best_value"], payload["best_epoch"]
        best_state, wait = payload["best_state"], payload["wait"]
        best_logits = [logits.numpy() for logits in payload["best_logits"]]
        history = list(payload["history"])
        rng.bit_generator.state = json.loads(payload["numpy_rng"])
        torch.set_rng_state(payload["torch_rng"])
        trained_images = payload["trained_images"]
        first_epoch = payload["epoch"] + 1
        yield Resumed(payload["epoch"], checkpoint_dir / CHECKPOINT_NAME)
    # DDP wraps the model for training; `model` stays the plain module for state and scoring.
    net = model
    if context is not None:
        from torch.nn.parallel import DistributedDataParallel

        ids = [context.local_rank] if device.type == "cuda" else None
        net = DistributedDataParallel(model, device_ids=ids)

    for epoch in range(first_epoch, epochs + 1):
        epoch_started = time.perf_counter()
        rows = batches_source.epoch(rng)
        if config.dry_run:
            rows = rows[: config.batch_size]
        labels_all = rows[:, 3]
        weights = _class_weights(labels_all, device) if config.balance_classes else None
        loss_fn = nn.CrossEntropyLoss(weight=weights, ignore_index=IGNORE)
        batches = -(-len(rows) // config.batch_size)
        loss_sum = correct = seen = 0.0
        model.train()
        for batch in range(batches):
            if cancel is not None and cancel():
                cancelled = True
                break
            chunk = rows[batch * config.batch_size : (batch + 1) * config.batch_size]
            # Every rank makes the whole global batch (the same random draws as one process)
            # and keeps its share, so N ranks follow exactly the single-process trajectory.
            x_uint8, y_np = batches_source.batch(chunk, rng)
            batch_loss_fn = loss_fn
            if context is not None:
                batch_loss_fn = ddp.distributed_loss(weights, context, chunk, IGNORE)
                x_uint8, y_np = (
                    x_uint8[context.rank :: context.world],
                    y_np[context.rank :: context.world],
                )
            x, y = to_input(x_uint8, device), torch.from_numpy(y_np).to(device)
            loss, logits = train_step(net, optimizer, scheduler, batch_loss_fn, x, y, device, bf16)
            right = float((logits.argmax(1) == y).sum())
            if context is None:
                batch_loss = loss.item()
            else:
                total_loss, right = ddp.sum_over_ranks([loss.item(), right], context)
                batch_loss = total_loss / context.world
            loss_sum += batch_loss * len(chunk)
            correct += right
            seen += len(chunk)
            trained_images += len(chunk)
            rate = seen / max(time.perf_counter() - epoch_started, 1e-9)
            yield BatchProgress(epoch, batch + 1, batches, batch_loss, rate)
        if cancelled:
            break
        val_logits = None
        scoring = score_logits_iter(model, parts["val"], recipe, device, cancel=cancel)
        while True:
            try:
                progress = next(scoring)
            except StopIteration as stop:
                val_logits = stop.value
                break
            yield ValidationProgress(epoch, progress.batch, progress.batches, progress.images_per_s)
        if val_logits is None:
            cancelled = True
            break
        val_scores = image_scores(val_logits, recipe)
        record = EpochEnd(
            epoch, loss_sum / max(seen, 1), correct / max(seen, 1),
            m.binary_nll(val_labels, val_scores),
            m.accuracy(val_labels, m.predict_labels(val_scores)),
            time.perf_counter() - epoch_started, scheduler.get_last_lr()[0],
            m.roc_auc(val_labels, val_scores),
        )  # fmt: skip
        history.append(asdict(record))
        value = MONITORS[config.monitor](record)
        if best_epoch == 0 or value > best_value:  # strictly better, as Keras (min_delta 0)
            best_value, best_epoch, wait = value, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
            best_logits = val_logits
        else:
            wait += 1
        yield record
        if checkpoint_dir is not None and (context is None or context.main):
            save_checkpoint(checkpoint_dir, {
                "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "best_value": best_value,
                "best_epoch": best_epoch, "history": history, "config": asdict(config),
                "best_state": best_state, "wait": wait,
                "best_logits": [torch.from_numpy(logits) for logits in best_logits or []],
                # JSON text: a 128-bit generator state that weights_only loading accepts.
                "numpy_rng": json.dumps(rng.bit_generator.state),
                "torch_rng": torch.get_rng_state(),
                "trained_images": trained_images,
            })  # fmt: skip
        ddp.barrier(context)  # no rank runs ahead of a checkpoint that a kill could then lose
        stop = config.patience > 0 and wait >= config.patience and epoch < epochs
        if ddp.rank0_decides(stop, context):
            yield EarlyStop(epoch, best_epoch)
            break

    seconds = time.perf_counter() - started
    if best_state is None:
        yield Finished(0, {}, None, None, cancelled=cancelled, history=history)
        return
    model.load_state_dict(best_state)
    model = model.to("cpu").to(memory_format=torch.contiguous_format).eval()
    report = calibrate_and_report(best_logits, val_labels, recipe)
    report.update(
        best_epoch=best_epoch, epochs_run=len(history), seconds=round(seconds, 1),
        train_images_per_s=round(trained_images / max(seconds, 1e-9), 2),
    )  # fmt: skip
    card = make_card(config, dataset, split.method, parts, cached, report, history, str(device),
                 precision, cancelled)  # fmt: skip
    saved = None
    if config.out and not cancelled and (context is None or context.main):
        saved = save_model(config.out, model, card, half=config.half_weights)
    ddp.barrier(context)
    ddp.close(context)
    yield Finished(best_epoch, report, model, card, cancelled, saved, history)


def save_trained(finished: Finished, path: str | Path, half: bool = False) -> Path:
    """Save a finished (or cancelled) run's best model with its card, atomically."""
    if finished.model is None or finished.card is None:
        raise ValueError("no epoch finished, so there is no model to save")
    card = copy.copy(finished.card)
    card.name = Path(path).name.removesuffix(".safetensors")
    return save_model(path, finished.model, card, half=half)
