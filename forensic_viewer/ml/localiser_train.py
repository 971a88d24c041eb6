"""Training the block localiser: one generator shared by the CLI and the wizard.

``train_localiser(config, cancel)`` yields ``train.Prepared``, :class:`FeatureProgress` while the
feature caches are built, then per epoch ``train.BatchProgress`` per batch, ``ValidationProgress``
and :class:`LocaliserEpochEnd` (an ``EpochEnd`` with the pixel metrics), and a last
``train.Finished`` (also when cancelled). The best epoch (by validation image AUC plus median
pixel AUC) is kept; a checkpoint with the optimizer state is written after every epoch.

Batches are random crops of ``crop_blocks`` x ``crop_blocks`` blocks from the cached features
(features are computed once on whole images, so their per-image normalisation matches
prediction). Loss: BCE on the per-block mask fractions plus a soft dice, plus 0.5 x BCE of the
pooled image logit. Forward under bf16 autocast on CPUs with native bf16, channels-last; the same
code runs on CUDA.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from collections.abc import Generator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..core.atomic import atomic_open
from . import metrics as m
from .data import AUTHENTIC
from .local_features import DCT_CLIP, DENSE_CHANNELS, RESIDUAL_QUALITIES
from .localiser import BlockLocaliser, pooled_logit
from .localiser_calibration import (
    _sigmoid,
    best_map_logit,
    calibrate,
)
from .localiser_card import localiser_card, localiser_report
from .localiser_config import INPUT_GROUPS, LocaliserConfig
from .localiser_data import (
    FeatureCache,
    FeatureProgress,  # noqa: F401 - re-exported: one of the events
)
from .localiser_sources import cache_counts, training_sources
from .localiser_stream import BackgroundFeeder, PoolRefresher
from .modelfile import save_model
from .predict import Cancel
from .scoring import ValidationProgress, autocast, resolve_device, use_bf16
from .train import BatchProgress, EpochEnd, Finished, Prepared


@dataclass(frozen=True)
class LocaliserEpochEnd(EpochEnd):
    val_pixel_auc: float = float("nan")
    """Median over tampered validation images of the block-level ROC AUC against the mask."""
    val_pixel_f1: float = float("nan")
    """Median block-level F1 at P = 0.5 over tampered validation images."""
    fresh_items: int = 0
    """Training items the background loader replaced during this epoch (0 with 'cache')."""


def channel_keep(inputs: tuple[str, ...]) -> np.ndarray:
    """float32 mask over the input channels: 1 for the groups kept, 0 for ablated ones."""
    keep = np.zeros(64 + DENSE_CHANNELS, np.float32)
    if "dct" in inputs:
        keep[:64] = 1
    residuals = len(RESIDUAL_QUALITIES)
    if "residual" in inputs:
        keep[64 : 64 + residuals] = 1
    if "phase" in inputs:
        keep[64 + residuals :] = 1
    return keep


def _stack_input(features_list, keep: np.ndarray) -> np.ndarray:
    """N x rows x cols x C float32 from equally sized features (dct / 20, dense)."""
    dct = np.stack([f.dct for f in features_list]).astype(np.float32) / DCT_CLIP
    dense = np.stack([f.dense for f in features_list]).astype(np.float32)
    return np.concatenate([dct, dense], axis=3) * keep


def _to_device(x: np.ndarray, device: torch.device) -> torch.Tensor:
    """N x H x W x C -> N x C x H x W channels-last, a view without a copy."""
    return torch.from_numpy(x).to(device).permute(0, 3, 1, 2)


def _qtables(cache: FeatureCache, rows, device) -> torch.Tensor:
    tables = np.stack([cache.features[i].qtable for i in rows])
    return torch.from_numpy(np.log2(tables) / 8.0).float().to(device)


class _Crops:
    """Random crop batches from a feature cache (zero padding, weight 0, past small images)."""

    def __init__(self, cache: FeatureCache, size: int, keep: np.ndarray) -> None:
        self.cache, self.size, self.keep = cache, size, keep

    def batch(self, rows: np.ndarray, rng: np.random.Generator):
        size = self.size
        channels = len(self.keep)
        x = np.zeros((len(rows), size, size, channels), np.float32)
        target = np.zeros((len(rows), size, size), np.float32)
        weight = np.zeros((len(rows), size, size), np.float32)
        labels = np.zeros(len(rows), np.float32)
        for n, i in enumerate(rows):
            features = self.cache.features[i]
            h, w = features.blocks
            y0 = int(rng.integers(0, max(h - size, 0) + 1))
            x0 = int(rng.integers(0, max(w - size, 0) + 1))
            ch, cw = min(size, h), min(size, w)
            part = (slice(y0, y0 + ch), slice(x0, x0 + cw))
            x[n, :ch, :cw, :64] = features.dct[part].astype(np.float32) / DCT_CLIP
            x[n, :ch, :cw, 64:] = features.dense[part]
            t = self.cache.targets[i][part].astype(np.float32) / 255.0
            target[n, :ch, :cw] = t
            weight[n, :ch, :cw] = 1.0
            labels[n] = float(self.cache.labels[i] != AUTHENTIC and (t >= 0.5).sum() >= 2)
        return x * self.keep, target, weight, labels


def localiser_loss(logits, target, weight, labels):
    """(total, pixel BCE, dice, image BCE) for N x 1 x S x S logits."""
    logits = logits.float()[:, 0]
    bce = (F.binary_cross_entropy_with_logits(logits, target, reduction="none") * weight).sum()
    bce = bce / weight.sum().clamp_min(1.0)
    prob = torch.sigmoid(logits) * weight
    dice = 1.0 - (2 * (prob * target).sum() + 1.0) / (prob.sum() + target.sum() + 1.0)
    # Padded blocks get a very low logit so they never win the top-k pooling.
    pooled = pooled_logit((logits + (weight - 1.0) * 1e4)[:, None])
    image = F.binary_cross_entropy_with_logits(pooled, labels)
    return bce + dice + 0.5 * image, bce, dice, image


@torch.no_grad()
def predict_maps(model, cache: FeatureCache, keep, device, cancel: Cancel = None, epoch: int = 0):
    """Per image: block logits (float32 rows x cols). Yields ValidationProgress; returns the
    list, or None when cancelled."""
    model.eval()
    maps = []
    started = time.perf_counter()
    total = len(cache)
    for n in range(total):
        if cancel is not None and cancel():
            return None
        x = _to_device(_stack_input([cache.features[n]], keep), device)
        logits = model(x, _qtables(cache, [n], device))
        maps.append(logits[0, 0].float().cpu().numpy())
        if (n + 1) % 16 == 0 or n + 1 == total:
            rate = (n + 1) / max(time.perf_counter() - started, 1e-9)
            yield ValidationProgress(epoch, n + 1, total, rate)
    return maps


def map_metrics(maps, cache: FeatureCache) -> dict:
    """Image AUC of the pooled logits, and median block-level pixel AUC / F1 (tampered only)."""
    labels = np.array(cache.labels)
    pooled = np.array([float(pooled_logit(torch.from_numpy(mp)[None, None])) for mp in maps])
    aucs, f1s = [], []
    for mp, target, label in zip(maps, cache.targets, labels, strict=True):
        positive = target >= 128
        if label == AUTHENTIC or not positive.any() or positive.all():
            continue
        aucs.append(m.roc_auc(positive.ravel().astype(int), mp.ravel()))
        predicted = mp >= 0.0
        tp = float((predicted & positive).sum())
        f1s.append(2 * tp / max(predicted.sum() + positive.sum(), 1))
    return {
        "image_auc": m.roc_auc(labels, pooled) if len(set(labels)) == 2 else float("nan"),
        "pixel_auc_median": float(np.median(aucs)) if aucs else float("nan"),
        "pixel_f1_median": float(np.median(f1s)) if f1s else float("nan"),
        "pooled": pooled,
    }


def train_localiser(
    config: LocaliserConfig,
    cancel: Cancel = None,
    caches: tuple[FeatureCache, FeatureCache] | None = None,
) -> Generator:
    """Train the block localiser; see the module docstring for the events. ``caches``:
    ready (train, validation) features instead of the config's sources (tests, ablations)."""
    if caches is None and not config.dataset and not config.synthetic:
        raise ValueError("the localiser needs a labelled folder, a folder of photos, or both")
    unknown = set(config.inputs) - set(INPUT_GROUPS)
    if unknown or not config.inputs:
        raise ValueError(f"inputs must be some of {', '.join(INPUT_GROUPS)}")
    device = resolve_device(config.device)
    bf16 = use_bf16(config.bf16, device)
    precision = "bf16 autocast" if bf16 else "float32"
    if config.loader not in ("stream", "cache"):
        raise ValueError("loader must be 'stream' or 'cache'")
    result = (
        (*caches, {"caches": "given"}, None)
        if caches
        else (yield from training_sources(config, cancel))
    )
    if result is None:
        yield Finished(0, {}, None, None, cancelled=True)
        return
    train_cache, val_cache, summary, stream = result
    if len(train_cache) == 0 or len(val_cache) == 0 or len(set(train_cache.labels)) < 2:
        raise ValueError("training needs both classes in training and a validation set")
    yield Prepared(cache_counts(train_cache), cache_counts(val_cache),
                   json.dumps(summary, sort_keys=True), (), str(device), precision)  # fmt: skip
    keep = channel_keep(tuple(config.inputs))
    if device.type == "cpu":
        torch.set_num_threads(max(1, config.threads))
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = BlockLocaliser().to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    epochs = 1 if config.dry_run else config.epochs
    batches = -(-len(train_cache) // config.batch_size)
    if config.dry_run:
        batches = min(batches, 2)
    total_steps = max(epochs * batches, 1)
    clock = {"start": time.perf_counter()}

    def progress(step: int) -> float:
        """Share of the run done: by steps, or by time when a budget is set (whichever is
        further), so a time-limited run still ends with a low learning rate."""
        done = step / total_steps
        if config.time_budget_min:
            done = max(done, (time.perf_counter() - clock["start"]) / (60 * config.time_budget_min))
        return min(done, 1.0)

    def lr_factor(step: int) -> float:
        done = progress(step)
        if done < 0.05:  # warm-up
            return 0.1 + 0.9 * done / 0.05
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * (done - 0.05) / 0.95))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    crops = _Crops(train_cache, config.crop_blocks, keep)
    checkpoint_dir = (
        None if config.dry_run or not config.checkpoint_dir else Path(config.checkpoint_dir)
    )
    history, best = [], {"value": -math.inf, "epoch": 0, "state": None, "maps": None}
    refresher = PoolRefresher(train_cache)
    feeder = None
    if config.loader == "stream" and stream is not None and (stream.photos or stream.labelled):
        stream = dataclasses.replace(stream, labelled_share=refresher.labelled_share())
        feeder = BackgroundFeeder(stream, workers=max(0, config.stream_workers))
    summary["loader"] = config.loader if feeder is not None else "cache"
    started = time.perf_counter()
    cancelled = False
    clock["start"] = time.perf_counter()
    step = 0
    try:
        for epoch in range(1, epochs + 1):
            epoch_started = time.perf_counter()
            order = rng.permutation(len(train_cache))
            model.train()
            loss_sum = correct = seen = 0.0
            fresh = 0
            for batch in range(batches):
                if cancel is not None and cancel():
                    cancelled = True
                    break
                if feeder is not None:
                    fresh += refresher.replace(feeder.take())
                rows = order[batch * config.batch_size : (batch + 1) * config.batch_size]
                x, target, weight, labels = crops.batch(rows, rng)
                xt = _to_device(x, device)
                tt, wt = (torch.from_numpy(a).to(device) for a in (target, weight))
                lt = torch.from_numpy(labels).to(device)
                with autocast(device, bf16):
                    logits = model(xt, _qtables(train_cache, rows, device))
                loss, *_ = localiser_loss(logits, tt, wt, lt)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                step += 1
                with torch.no_grad():
                    pooled = pooled_logit(logits.float() + (wt[:, None] - 1.0) * 1e4)
                    correct += float(((pooled >= 0).float() == lt).sum())
                loss_sum += loss.item() * len(rows)
                seen += len(rows)
                rate = seen / max(time.perf_counter() - epoch_started, 1e-9)
                yield BatchProgress(epoch, batch + 1, batches, loss.item(), rate)
                if progress(step) >= 1.0:
                    break  # the time budget is spent: validate this epoch and stop
            if cancelled:
                break
            maps = yield from predict_maps(model, val_cache, keep, device, cancel, epoch)
            if maps is None:
                cancelled = True
                break
            scores = map_metrics(maps, val_cache)
            labels_val = np.array(val_cache.labels)
            probs = _sigmoid(scores["pooled"])
            record = LocaliserEpochEnd(
                epoch, loss_sum / max(seen, 1), correct / max(seen, 1),
                m.binary_nll(labels_val, probs), m.accuracy(labels_val, m.predict_labels(probs)),
                time.perf_counter() - epoch_started, scheduler.get_last_lr()[0],
                scores["image_auc"], scores["pixel_auc_median"], scores["pixel_f1_median"], fresh,
            )  # fmt: skip
            history.append(asdict(record))
            value = np.nan_to_num(scores["image_auc"]) + np.nan_to_num(scores["pixel_auc_median"])
            if value > best["value"]:
                best = {"value": value, "epoch": epoch, "state": copy.deepcopy(model.state_dict()),
                        "maps": maps}  # fmt: skip
            yield record
            if checkpoint_dir is not None:
                checkpoint_dir.mkdir(parents=True, exist_ok=True)
                with atomic_open(checkpoint_dir / "last.pt") as handle:
                    torch.save({"epoch": epoch, "model": model.state_dict(),
                                "optimizer": optimizer.state_dict(),
                                "scheduler": scheduler.state_dict(), "history": history,
                                "config": asdict(config)}, handle)  # fmt: skip
            if progress(step) >= 1.0:
                break
    finally:
        if feeder is not None and not feeder.close():
            summary["loader_problem"] = "the background loader did not stop within 30 s"
    if feeder is not None and feeder.problem():
        summary["loader_problem"] = "fresh items stopped: " + feeder.problem()
    summary["fresh_items"] = dict(refresher.replaced)
    if best["state"] is None:
        yield Finished(0, {}, None, None, cancelled=cancelled, history=history)
        return
    model.load_state_dict(best["state"])
    model = model.to("cpu").to(memory_format=torch.contiguous_format).eval()
    scores = map_metrics(best["maps"], val_cache)
    labels_val = np.array(val_cache.labels)
    calibration = calibrate(scores["pooled"], labels_val, config.max_false_alarm)
    # The map's own threshold (for F1 and a binary mask): calibrated like the image score.
    z = (best_map_logit(best["maps"], val_cache) - calibration["offset"]) / calibration[
        "temperature"
    ]
    calibration["map_threshold"] = float(_sigmoid(z))
    report = localiser_report(
        scores, calibration, labels_val, val_cache, best["epoch"], history, started
    )
    card = localiser_card(
        config, summary, report, history, str(device), precision, cancelled, train_cache,
        val_cache, calibration,
    )  # fmt: skip
    saved = None
    if config.out and not cancelled:
        saved = save_model(config.out, model, card, half=config.half_weights)
    yield Finished(best["epoch"], report, model, card, cancelled, saved, history)
