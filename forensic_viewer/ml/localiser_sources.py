"""Where a localiser run's training and validation data come from, cached by their settings."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_open
from ..core.paths import user_cache_dir
from .data import AUTHENTIC, scan_dataset, split_dataset
from .local_features import RESIDUAL_QUALITIES
from .localiser_config import LocaliserConfig
from .localiser_data import (
    FeatureCache,
    build_cache,
    build_synthetic_cache,
    labelled_items,
)
from .localiser_stream import StreamSources
from .predict import Cancel


def _cache_key(config: LocaliserConfig, part: str) -> str:
    """Only the settings that shape this part's items (a labelled cache survives a change of
    the generated pairs' settings and the other way round)."""
    fields: dict = {
        "v": 1,
        "part": part,
        "seed": config.seed,
        "dry": config.dry_run,
        "residuals": RESIDUAL_QUALITIES,
        "val_fraction": config.val_fraction,
    }
    if part.startswith("labelled"):
        fields.update(dataset=config.dataset, resave=config.val_resave_quality)
    else:
        fields.update(
            synthetic=config.synthetic,
            exclude=sorted(config.exclude_makes),
            val_by=config.val_by,
            per_photo=config.per_photo,
            max_side=config.max_side,
        )
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def _cached(config, part, build):
    """Reuse a saved feature cache for the same settings; build and save it otherwise."""
    folder = Path(config.cache_dir) if config.cache_dir else user_cache_dir() / "localiser"
    path = folder / f"{part}-{_cache_key(config, part)}.npz"
    if path.is_file():
        return FeatureCache.load(path)
    cache = yield from build()
    if cache is not None:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_open(path) as handle:
            cache.save(handle)
    return cache


def split_photos(photos, config: LocaliserConfig):
    """(train, val) photos, split by make or by photo with a seeded shuffle; excluded makes
    are dropped first."""
    excluded = {make.lower() for make in config.exclude_makes}
    kept = [p for p in photos if p.make.lower() not in excluded]
    key = (lambda p: p.make.lower()) if config.val_by == "make" else (lambda p: str(p.path))
    names = sorted({key(p) for p in kept})
    np.random.default_rng(config.seed).shuffle(names)
    count = max(1, round(config.val_fraction * len(names))) if len(names) > 1 else 0
    val_names = set(names[:count])
    return [p for p in kept if key(p) not in val_names], [p for p in kept if key(p) in val_names]


def training_sources(config: LocaliserConfig, cancel: Cancel):
    """Yields progress; returns (train cache, val cache, summary, stream sources) or None when
    cancelled. The stream sources are the training side only (``localiser_stream``)."""
    train, val = FeatureCache(), FeatureCache()
    summary: dict = {}
    stream: dict = {"seed": config.seed, "max_side": config.max_side, "group_by": config.val_by}
    workers = max(1, config.workers)
    if config.dataset:
        dataset = scan_dataset(config.dataset)
        split = split_dataset(dataset, config.val_fraction, config.seed)
        tr, va = split.train, split.val
        if config.dry_run:
            tr = [s for s in tr if s.label == AUTHENTIC][:4] + [s for s in tr if s.label][:4]
            va = [s for s in va if s.label == AUTHENTIC][:2] + [s for s in va if s.label][:2]
        stream["labelled"] = tuple(tr)
        summary["labelled"] = {"root": str(dataset.root), "split": split.method,
                               "train": len(tr), "val": len(va)}  # fmt: skip

        def labelled_train():
            items = labelled_items(tr, seed=config.seed)
            return (yield from build_cache(items, "labelled (train)", 2 * len(tr), workers, cancel))

        def labelled_val():
            items = labelled_items(va, resave_quality=config.val_resave_quality)
            return (
                yield from build_cache(items, "labelled (validation)", len(va), workers, cancel)
            )

        for part, build, target in (("labelled-train", labelled_train, train),
                                    ("labelled-val", labelled_val, val)):  # fmt: skip
            cache = yield from _cached(config, part, build)
            if cache is None:
                return None
            target.extend(cache)
    if config.synthetic:
        from .synthetic import find_photos

        photos = find_photos(config.synthetic)
        photo_train, photo_val = split_photos(photos, config)
        if config.dry_run:
            photo_train, photo_val = photo_train[:2], photo_val[:1]
        summary["synthetic"] = {
            "root": str(config.synthetic), "val_by": config.val_by,
            "excluded_makes": sorted(config.exclude_makes),
            "train_photos": len(photo_train), "val_photos": len(photo_val),
            "train_makes": sorted({p.make for p in photo_train}),
            "val_makes": sorted({p.make for p in photo_val}),
        }  # fmt: skip
        stream["photos"] = tuple(photo_train)
        per_photo = 1 if config.dry_run else config.per_photo
        max_side = min(config.max_side, 256) if config.dry_run else config.max_side
        stream["max_side"] = max_side
        for part, chosen, seed in (("synthetic-train", photo_train, config.seed),
                                   ("synthetic-val", photo_val, config.seed + 1)):  # fmt: skip

            def build(chosen=chosen, seed=seed):
                return (yield from build_synthetic_cache(
                    chosen, seed, per_photo, max_side, config.val_by, workers, cancel))  # fmt: skip

            cache = yield from _cached(config, part, build)
            if cache is None:
                return None
            (train if part.endswith("train") else val).extend(cache)
    return train, val, summary, StreamSources(**stream)


def cache_counts(cache: FeatureCache) -> dict:
    return {
        "authentic": sum(label == AUTHENTIC for label in cache.labels),
        "tampered": sum(label != AUTHENTIC for label in cache.labels),
        "groups": len(set(cache.groups)),
    }
