"""Training material for the block localiser: labelled JPEGs with masks, as block features.

Sources (each yields :class:`Item`, JPEG bytes with a pixel mask):
- a labelled dataset (``data.scan_dataset``, e.g. CASIA) with its masks (authentic: all zero),
  as is and re-saved once at a random quality (both classes alike, so that the global
  compression level is no shortcut), or all re-saved at one quality (validation);
- the synthetic generator (``ml.synthetic.generate``) over a folder of untouched photos.

``build_cache`` turns items into :class:`FeatureCache` entries (features + per-block mask
fractions) on a small process pool, yielding :class:`FeatureProgress`. Caches are saved as one
``.npz`` of concatenated arrays (no pickle) so an ablation or a second run reuses them.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .data import AUTHENTIC, Sample
from .local_features import BlockFeatures, NotJpegError, block_targets, read_block_features

Cancel = Callable[[], bool] | None


@dataclass
class Item:
    jpeg: bytes
    mask: np.ndarray
    """bool H x W (all False for authentic)."""
    label: int
    kind: str
    group: str


@dataclass(frozen=True)
class FeatureProgress:
    done: int
    total: int
    source: str


@dataclass
class FeatureCache:
    features: list[BlockFeatures] = field(default_factory=list)
    targets: list[np.ndarray] = field(default_factory=list)
    """uint8 rows x cols: fraction of each block inside the mask, times 255."""
    labels: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def extend(self, other: FeatureCache) -> None:
        for name in ("features", "targets", "labels", "kinds", "groups"):
            getattr(self, name).extend(getattr(other, name))

    def subset(self, keep: Sequence[int]) -> FeatureCache:
        out = FeatureCache()
        for i in keep:
            out.add(
                self.features[i], self.targets[i], self.labels[i], self.kinds[i], self.groups[i]
            )
        return out

    def add(self, features, targets, label, kind, group) -> None:
        self.features.append(features)
        self.targets.append(targets)
        self.labels.append(int(label))
        self.kinds.append(kind)
        self.groups.append(group)

    def save(self, path: str | Path) -> None:
        shapes = np.array([f.blocks for f in self.features], np.int64).reshape(-1, 2)
        np.savez(
            path,
            shapes=shapes,
            sizes=np.array([(f.height, f.width) for f in self.features], np.int64).reshape(-1, 2),
            dct=np.concatenate([f.dct.reshape(-1, 64) for f in self.features]),
            dense=np.concatenate([f.dense.reshape(-1, f.dense.shape[-1]) for f in self.features]),
            qtables=np.stack([f.qtable for f in self.features]),
            targets=np.concatenate([t.ravel() for t in self.targets]),
            labels=np.array(self.labels, np.int64),
            kinds=np.array(self.kinds),
            groups=np.array(self.groups),
        )

    @classmethod
    def load(cls, path: str | Path) -> FeatureCache:
        out = cls()
        with np.load(path, allow_pickle=False) as data:
            shapes, sizes = data["shapes"], data["sizes"]
            dct, dense, targets = data["dct"], data["dense"], data["targets"]
            ends = np.cumsum(shapes[:, 0] * shapes[:, 1])
            starts = ends - shapes[:, 0] * shapes[:, 1]
            for i, ((rows, cols), (h, w)) in enumerate(zip(shapes, sizes, strict=True)):
                part = slice(starts[i], ends[i])
                features = BlockFeatures(
                    dct[part].reshape(rows, cols, 64),
                    dense[part].reshape(rows, cols, -1),
                    data["qtables"][i],
                    int(h),
                    int(w),
                )
                out.add(
                    features,
                    targets[part].reshape(rows, cols),
                    data["labels"][i],
                    str(data["kinds"][i]),
                    str(data["groups"][i]),
                )
        return out


def resave(jpeg: bytes, quality: int) -> bytes:
    """Decode and save again at an IJG quality (4:2:0, as most editors and messengers do)."""
    with Image.open(io.BytesIO(jpeg)) as image:
        rgb = image.convert("RGB")
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=int(quality), subsampling=2)
    return out.getvalue()


def _mask_of(sample: Sample, size: tuple[int, int]) -> np.ndarray:
    if sample.label == AUTHENTIC or sample.mask is None:
        return np.zeros((size[1], size[0]), bool)
    with Image.open(sample.mask) as mask:
        array = np.asarray(mask.convert("L")) > 127
    if array.shape != (size[1], size[0]):
        raise ValueError(f"{sample.mask}: mask size {array.shape[::-1]} is not the image's {size}")
    return array


def labelled_items(
    samples: Iterable[Sample], resave_quality: int | None = None, seed: int | None = None
) -> Iterator[Item]:
    """Dataset samples as items: as is (``resave_quality`` None, ``seed`` None), re-saved at one
    quality, or (with ``seed``) both as is and re-saved at a seeded random quality 70-98.
    Tampered samples without a mask are skipped (a pixel loss needs one)."""
    rng = np.random.default_rng(seed) if seed is not None else None
    for sample in samples:
        if sample.label != AUTHENTIC and sample.mask is None:
            continue
        data = sample.path.read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            size = image.size
            if image.format != "JPEG":
                continue
        mask = _mask_of(sample, size)
        if resave_quality is not None:
            yield Item(resave(data, resave_quality), mask, sample.label, "resave", sample.group)
            continue
        yield Item(data, mask, sample.label, "as-is", sample.group)
        if rng is not None:
            quality = int(rng.integers(70, 99))
            yield Item(resave(data, quality), mask, sample.label, "resave", sample.group)


GENERATED_GROUP_PREFIXES = ("make:", "photo:")
"""Generated items are grouped by camera make or by photo; labelled items keep their dataset's
groups (``localiser_stream`` tells the two sources apart by this)."""


def generated_rows(photo, donors, seed: int, per_photo: int, max_side: int | None,
                   group_by: str) -> Iterator[tuple]:  # fmt: skip
    """One target photo's generated images (``ml.synthetic.generate``), featurized on the
    central window a ``max_side`` crop has: the cache's rows and the stream's alike."""
    from .synthetic import generate

    prefix = GENERATED_GROUP_PREFIXES[0 if group_by == "make" else 1]
    group = prefix + (photo.make if group_by == "make" else str(photo.path))
    max_blocks = None if max_side is None else -(-max_side // 8)
    for generated in generate([photo], seed, per_photo=per_photo, max_side=max_side, donors=donors):
        item = Item(generated.jpeg, generated.mask, generated.label, generated.kind, group)
        result = _featurize(item, max_blocks)
        if result is not None:
            yield result


def _synthetic_job(job: tuple) -> list[tuple]:
    """One target photo's generated images, featurized (runs in a worker process)."""
    return list(generated_rows(*job))


def build_synthetic_cache(
    photos: Sequence,
    seed: int,
    per_photo: int,
    max_side: int | None,
    group_by: str = "make",
    workers: int = 2,
    cancel: Cancel = None,
) -> Generator[FeatureProgress, None, FeatureCache | None]:
    """Generated pairs (``ml.synthetic``) from each photo, grouped by camera make or photo,
    as features. Generation and features both run in the workers (one photo per job, with
    its own seed derived from ``seed``, so the result does not depend on ``workers``)."""
    cache = FeatureCache()
    jobs = [
        (photo, list(photos), seed * 100_003 + index, per_photo, max_side, group_by)
        for index, photo in enumerate(photos)
    ]
    yield FeatureProgress(0, len(jobs), "generated pairs")
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    try:
        results = pool.map(_synthetic_job, jobs) if pool else map(_synthetic_job, jobs)
        for done, rows in enumerate(results, 1):
            if cancel is not None and cancel():
                return None
            for row in rows:
                cache.add(*row)
            yield FeatureProgress(done, len(jobs), "generated pairs")
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return cache


def _featurize(item: Item, max_blocks: int | None = 64) -> tuple | None:
    try:
        features = read_block_features(item.jpeg)
    except NotJpegError:
        return None
    targets = block_targets(item.mask)
    if targets.shape != features.blocks:  # a mask not on this image's grid: skip, never guess
        return None
    features, targets = _central_window(features, targets, max_blocks)
    return features, np.rint(targets * 255).astype(np.uint8), item.label, item.kind, item.group


def _central_window(features: BlockFeatures, targets: np.ndarray, max_blocks: int | None):
    """Keep at most max_blocks x max_blocks blocks in the middle (full camera originals would
    take 20 MB each; features were computed on the whole image, so their normalisation is the
    whole image's, as in prediction)."""
    rows, cols = features.blocks
    if max_blocks is None or (rows <= max_blocks and cols <= max_blocks):
        return features, targets
    top, left = max(0, (rows - max_blocks) // 2), max(0, (cols - max_blocks) // 2)
    part = (slice(top, top + max_blocks), slice(left, left + max_blocks))
    h, w = min(rows, max_blocks) * 8, min(cols, max_blocks) * 8
    window = BlockFeatures(features.dct[part], features.dense[part], features.qtable, h, w)
    return window, targets[part]


def build_cache(
    items: Iterable[Item], source: str, total: int, workers: int = 2, cancel: Cancel = None
) -> Generator[FeatureProgress, None, FeatureCache | None]:
    """Features of every item, in order; returns None when cancelled."""
    cache = FeatureCache()
    done = 0
    yield FeatureProgress(0, total, source)
    chunk: list[Item] = []

    def flush(pool) -> None:
        results = pool.map(_featurize, chunk) if pool else map(_featurize, chunk)
        for result in results:
            if result is not None:
                cache.add(*result)
        chunk.clear()

    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    try:
        for item in items:
            if cancel is not None and cancel():
                return None
            chunk.append(item)
            done += 1
            if len(chunk) >= 16:
                flush(pool)
                yield FeatureProgress(done, max(total, done), source)
        flush(pool)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    yield FeatureProgress(done, max(total, done), source)
    return cache
