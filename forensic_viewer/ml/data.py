"""Training datasets: discovery, labels, a split by source photo, and the ELA-input cache.

A dataset is a folder. Labels come from (a) class folders anywhere below it (``authentic/``,
``tampered/`` and common aliases; the nearest one wins) or (b) CASIA-style names (``Au_*``
authentic, ``Tp_*``/``Sp_*`` tampered). Groups (source photos) come from a ``MANIFEST.tsv`` with a
``group_id`` column, else from the photo ids in CASIA names joined by union-find, else every file
is its own group (a random split, with a warning). Splitting by file when photos repeat would put
the same photo on both sides and make validation accuracy a lie.

The ELA input of every file is computed once per (content SHA-256, recipe) into
``user_cache_dir()/ela`` on a small thread pool (decoding and JPEG coding release the GIL).
"""

from __future__ import annotations

import csv
import random
import re
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..core.atomic import atomic_write_bytes
from ..core.errors import ImageLoadError
from ..core.images import is_image_path, load_image, sha256_file
from ..core.paths import user_cache_dir
from .preprocess import Recipe, classic_input, ela_rendering

AUTHENTIC, TAMPERED = 0, 1
AUTHENTIC_FOLDERS = frozenset({"authentic", "au", "real", "original", "originals", "pristine"})
TAMPERED_FOLDERS = frozenset(
    {"tampered", "tp", "fake", "fakes", "forged", "manipulated", "spliced", "sp"}
)
MASK_FOLDERS = frozenset({"mask", "masks", "groundtruth", "ground_truth", "gt"})
MASK_SUFFIXES = ("_gt", "_mask")
NO_CLASS, UNSUPPORTED = "no class", "unsupported file type"
NOT_LABELLED_REASONS = (NO_CLASS, UNSUPPORTED)
"""How the reasons of skipped files without a usable label begin (see Dataset.unreadable)."""
MIN_PER_CLASS = 20
"""Fewer images than this in a class gives a warning: the model cannot learn much from them."""
IMBALANCE_RATIO = 3.0
CACHE_VERSION = 1
"""Bump when the ELA or the cached layout changes, so stale inputs are never reused."""

_CASIA_ID = re.compile(r"^([a-z]{3})(\d{4,5})$")
_AU_NAME = re.compile(r"^au_([a-z]{3})_?(\d{4,5})", re.IGNORECASE)
# A typo in CASIA v1.0 names: 'ant0063' is the nature photo nat0063 (see the dataset README).
_ID_TYPOS = {"ant": "nat"}


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int
    """0 = authentic, 1 = tampered (the network's class order)."""
    group: str
    mask: Path | None = None
    """8-bit mask of the tampered region (255 = tampered), when the dataset has one."""


@dataclass
class Dataset:
    root: Path
    samples: list[Sample]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    group_source: str = "none"
    """'manifest', 'casia-names' or 'none' (no groups known: a random split)."""

    def unreadable(self) -> list[tuple[Path, str]]:
        """Skipped files that had a class but could not be read (the others had no class or an
        unsupported type)."""
        return [(p, r) for p, r in self.skipped if not r.startswith(NOT_LABELLED_REASONS)]

    def counts(self) -> dict[str, int]:
        labels = Counter(s.label for s in self.samples)
        return {"authentic": labels[AUTHENTIC], "tampered": labels[TAMPERED]}

    def summary(self) -> dict:
        return {
            "root": str(self.root),
            "counts": self.counts(),
            "groups": len({s.group for s in self.samples}),
            "group_source": self.group_source,
            "masks": sum(s.mask is not None for s in self.samples),
            "skipped": len(self.skipped),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class Split:
    train: list[Sample]
    val: list[Sample]
    method: str
    warnings: tuple[str, ...] = ()


def _casia_id(token: str) -> str | None:
    match = _CASIA_ID.match(token.lower())
    if not match:
        return None
    category, number = match.groups()
    return f"{_ID_TYPOS.get(category, category)}{int(number):04d}"


def casia_photo_ids(name: str) -> list[str]:
    """Source-photo ids in a CASIA file name: ``Au_pla_0005`` -> [pla0005];
    ``Sp_D_CND_A_pla0005_pla0023_0281`` -> [pla0005, pla0023]."""
    stem = Path(name).stem
    au = _AU_NAME.match(stem)
    if au:
        return [_casia_id(au.group(1) + au.group(2))]
    return [i for i in (_casia_id(t) for t in stem.split("_")) if i]


def label_from_path(relative: Path) -> int | None:
    """Nearest class folder wins; otherwise a CASIA-style name prefix; otherwise unknown."""
    for part in reversed(relative.parts[:-1]):
        lowered = part.lower()
        if lowered in AUTHENTIC_FOLDERS:
            return AUTHENTIC
        if lowered in TAMPERED_FOLDERS:
            return TAMPERED
    prefix = relative.name[:3].lower()
    if prefix == "au_":
        return AUTHENTIC
    if prefix in ("tp_", "sp_"):
        return TAMPERED
    return None


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _read_manifest(root: Path) -> dict[str, str]:
    """Relative path -> group_id from ``MANIFEST.tsv`` (empty when absent or without groups)."""
    manifest = root / "MANIFEST.tsv"
    if not manifest.is_file():
        return {}
    with manifest.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows or "group_id" not in rows[0] or "file" not in rows[0]:
        return {}
    return {
        row["file"].replace("\\", "/"): row["group_id"]
        for row in rows
        if row.get("group_id") and row.get("label", "") != "mask"
    }


def _header_problem(path: Path) -> str | None:
    """A cheap check (header only); full decoding happens when the cache is built."""
    try:
        if path.stat().st_size == 0:
            return "empty file"
        with Image.open(path) as image:
            width, height = image.size
            if width <= 0 or height <= 0:
                return f"declared size {width}x{height}"
    except (OSError, SyntaxError, ValueError) as exc:
        return f"not a readable image ({type(exc).__name__})"
    return None


def scan_dataset(root: str | Path, check_headers: bool = True) -> Dataset:
    """Find labelled images below ``root``. Raises ``FileNotFoundError`` for a missing folder."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    masks: dict[str, Path] = {}
    candidates: list[tuple[Path, int]] = []
    skipped: list[tuple[Path, str]] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        in_mask_folder = any(part.lower() in MASK_FOLDERS for part in relative.parts[:-1])
        mask_suffix = next((s for s in MASK_SUFFIXES if path.stem.lower().endswith(s)), None)
        if in_mask_folder or mask_suffix:  # CASIA v2 ground truth: <stem>_gt.png
            if is_image_path(path):
                masks[path.stem[: -len(mask_suffix)] if mask_suffix else path.stem] = path
            continue
        label = label_from_path(relative)
        if label is None:
            if is_image_path(path):
                skipped.append((path, f"{NO_CLASS}: not in a class folder, no Au_/Tp_/Sp_ name"))
            continue
        if not is_image_path(path):
            skipped.append((path, f"{UNSUPPORTED} '{path.suffix or path.name}'"))
            continue
        problem = _header_problem(path) if check_headers else None
        if problem:
            skipped.append((path, problem))
            continue
        candidates.append((path, label))

    manifest_groups = _read_manifest(root)
    samples, group_source = _assign_groups(root, candidates, masks, manifest_groups)
    dataset = Dataset(root, samples, skipped, group_source=group_source)
    dataset.warnings = _dataset_warnings(dataset)
    return dataset


def _assign_groups(
    root: Path,
    candidates: list[tuple[Path, int]],
    masks: dict[str, Path],
    manifest_groups: dict[str, str],
) -> tuple[list[Sample], str]:
    union = _UnionFind()
    ids_of: dict[Path, list[str]] = {}
    for path, _ in candidates:
        ids = casia_photo_ids(path.name)
        ids_of[path] = ids
        for other in ids[1:]:
            union.union(ids[0], other)
    relatives = {path: path.relative_to(root).as_posix() for path, _ in candidates}
    in_manifest = sum(relatives[path] in manifest_groups for path, _ in candidates)
    named = sum(bool(ids_of[path]) for path, _ in candidates)
    if candidates and in_manifest >= len(candidates) / 2:
        source = "manifest"
    elif candidates and named >= len(candidates) / 2:
        source = "casia-names"
    else:
        source = "none"
    samples = []
    for path, label in candidates:
        relative = relatives[path]
        if source == "manifest" and relative in manifest_groups:
            group = "m:" + manifest_groups[relative]
        elif source != "none" and ids_of[path]:
            group = "c:" + union.find(ids_of[path][0])
        else:
            group = "f:" + relative  # unknown source photo: the file is its own group
        mask = masks.get(path.stem) if label == TAMPERED else None
        samples.append(Sample(path, label, group, mask))
    return samples, source


def _dataset_warnings(dataset: Dataset) -> list[str]:
    counts = dataset.counts()
    warnings = []
    for name, count in counts.items():
        if count == 0:
            warnings.append(f"No {name} images found: training needs both classes.")
        elif count < MIN_PER_CLASS:
            warnings.append(f"Only {count} {name} images: too few to train a useful model.")
    low, high = min(counts.values()), max(counts.values())
    if low and high / low > IMBALANCE_RATIO:
        warnings.append(
            f"Classes are imbalanced ({counts['authentic']} authentic, {counts['tampered']} "
            "tampered): consider class balancing."
        )
    if dataset.group_source == "none" and dataset.samples:
        warnings.append(
            "No source-photo groups known (no MANIFEST.tsv group_id, no CASIA names): the "
            "validation split is random by file, so near-duplicates may leak into it."
        )
    if dataset.skipped:
        warnings.append(f"{len(dataset.skipped)} files skipped (see the list).")
    return warnings


def split_dataset(dataset: Dataset, val_fraction: float = 0.2, seed: int = 0) -> Split:
    """Seeded split by group: no group is on both sides; class proportions kept roughly.

    Groups are visited in a seeded random order; each joins validation when that brings the
    validation class counts closer to ``val_fraction`` of each class (a greedy stratification).
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"validation fraction must be between 0 and 1, got {val_fraction}")
    groups: dict[str, list[Sample]] = {}
    for sample in dataset.samples:
        groups.setdefault(sample.group, []).append(sample)
    names = sorted(groups)
    random.Random(seed).shuffle(names)
    totals = Counter(s.label for s in dataset.samples)
    target = {c: val_fraction * totals[c] for c in (AUTHENTIC, TAMPERED)}
    current = Counter()
    val_groups: set[str] = set()

    def distance(counts: Counter) -> float:
        return sum(abs(target[c] - counts[c]) for c in (AUTHENTIC, TAMPERED))

    for name in names:
        added = current + Counter(s.label for s in groups[name])
        if distance(added) < distance(current):
            current = added
            val_groups.add(name)
    if not val_groups and len(names) > 1:  # a tiny dataset: still validate on something
        val_groups.add(names[0])
    val = [s for s in dataset.samples if s.group in val_groups]
    train = [s for s in dataset.samples if s.group not in val_groups]
    method = {
        "manifest": "by group_id from MANIFEST.tsv",
        "casia-names": "by source photo from CASIA file names",
        "none": "random by file (no groups known)",
    }[dataset.group_source]
    warnings = []
    for label, name in ((AUTHENTIC, "authentic"), (TAMPERED, "tampered")):
        if totals[label] and not any(s.label == label for s in val):
            warnings.append(f"The validation split has no {name} images.")
    return Split(train, val, method, tuple(warnings))


# ---------------------------------------------------------------------------------------------
# ELA-input cache


@dataclass(frozen=True)
class CachingProgress:
    done: int
    total: int
    reused: int
    failed: int


@dataclass
class CachedInputs:
    samples: list[Sample]
    """The samples that could be decoded, in input order."""
    arrays: list[np.ndarray]
    """uint8 per sample: 3 x size x size (resize recipes) or H x W x 3 ELA rendering (tiles)."""
    widths: list[int]
    """Stored width of each source image (horizontal flips keep the 8-px grid only if % 8 == 0)."""
    failed: list[tuple[Path, str]]


def recipe_cache_key(recipe: Recipe) -> str:
    """Everything that determines the cached array: ELA channels and qualities, and the resize."""
    native = recipe.cache_key
    if recipe.mode == "tiles":  # tiles are cut at training time from the native rendering
        return f"v{CACHE_VERSION}-native-{native}"
    return f"v{CACHE_VERSION}-resize-{native}-s{recipe.size}-{recipe.resize_filter}"


def cache_path(sha256: str, recipe: Recipe) -> Path:
    # Native renderings are plain .npy so they can be memory-mapped (a set of 12 MP photos does
    # not fit in memory); resized inputs are tiny and keep the source width beside them (.npz).
    suffix = ".npy" if recipe.mode == "tiles" else ".npz"
    return user_cache_dir() / "ela" / recipe_cache_key(recipe) / sha256[:2] / (sha256 + suffix)


def compute_input(rgb: np.ndarray, recipe: Recipe) -> np.ndarray:
    """The uint8 array the cache stores for ``recipe`` (float input = array / 255 exactly)."""
    if recipe.mode == "tiles":
        return np.ascontiguousarray(ela_rendering(rgb, recipe))
    return np.rint(classic_input(rgb, recipe) * np.float32(255.0)).astype(np.uint8)


def _encode(array: np.ndarray, width: int, path: Path) -> bytes:
    import io

    buffer = io.BytesIO()
    if path.suffix == ".npy":
        np.save(buffer, array, allow_pickle=False)
    else:
        np.savez(buffer, array=array, width=np.int64(width))
    return buffer.getvalue()


def _read_cached(path: Path) -> tuple[np.ndarray, int] | None:
    try:
        if path.suffix == ".npy":
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            return (array, array.shape[1]) if array.ndim == 3 else None
        with np.load(path, allow_pickle=False) as stored:
            return stored["array"], int(stored["width"])
    except (OSError, ValueError, KeyError, EOFError):
        return None  # unreadable entry: recompute it


def _cache_one(sample: Sample, recipe: Recipe) -> tuple[np.ndarray, int, bool]:
    """(array, source width, reused). Raises ImageLoadError for unreadable evidence."""
    try:
        sha = sha256_file(sample.path)
    except OSError as exc:
        raise ImageLoadError(sample.path, exc.strerror or str(exc)) from exc
    path = cache_path(sha, recipe)
    cached = _read_cached(path) if path.is_file() else None
    if cached is not None:
        return cached[0], cached[1], True
    loaded = load_image(sample.path)
    array = compute_input(loaded.pixels, recipe)
    atomic_write_bytes(path, _encode(array, loaded.facts.width, path))
    if path.suffix == ".npy":
        reread = _read_cached(path)  # hand back the memory map, not a second in-memory copy
        if reread is not None:
            array = reread[0]
    return array, loaded.facts.width, False


def cache_inputs(
    samples: Sequence[Sample],
    recipe: Recipe,
    workers: int = 2,
    cancel: Callable[[], bool] | None = None,
) -> Generator[CachingProgress, None, CachedInputs | None]:
    """Yield progress while the ELA inputs are computed or reused; return them (None if cancelled).

    Use as ``inputs = yield from cache_inputs(...)`` or drive it with ``next`` until StopIteration.
    """
    total = len(samples)
    results: list[tuple[np.ndarray, int] | None] = [None] * total
    failed: list[tuple[Path, str]] = []
    reused = done = 0
    yield CachingProgress(0, total, 0, 0)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="ela-cache") as pool:
        futures = [pool.submit(_cache_one, sample, recipe) for sample in samples]
        for index, future in enumerate(futures):
            if cancel is not None and cancel():
                for pending in futures[index:]:
                    pending.cancel()
                return None
            try:
                array, width, was_cached = future.result()
                results[index] = (array, width)
                reused += was_cached
            except ImageLoadError as exc:
                failed.append((samples[index].path, str(exc)))
            done += 1
            if done == total or done % 8 == 0:
                yield CachingProgress(done, total, reused, len(failed))
    kept = [i for i in range(total) if results[i] is not None]
    return CachedInputs(
        samples=[samples[i] for i in kept],
        arrays=[results[i][0] for i in kept],
        widths=[results[i][1] for i in kept],
        failed=failed,
    )
