"""The detection benchmark's suite: held-out camera makes, generated pairs and CASIA validation.

Training on generated data must leave these makes out (``training_photos``), so that the
benchmark's numbers are on cameras the model never saw. The list is fixed here and in
``bench/README.md``; changing it invalidates every number measured on it.

The suite: for each held-out photo, ``per_photo`` rounds of the generator (5: every tampering
kind with its compression-matched authentic, and every innocent operation, once per photo); and
CASIA v1's validation split (the project's group split, seed 0, val 0.2) as is and re-saved once at
q75 and at q90, both classes alike. It is written once into the user cache folder, keyed by a
hash of its parameters and inputs, never into the repository or next to the evidence.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..core.atomic import atomic_write_bytes, atomic_write_text
from ..core.jsonout import dumps
from ..core.paths import user_cache_dir
from .data import Sample, scan_dataset, split_dataset
from .synthetic import GENERATOR_VERSION, Photo, SaveSettings, find_photos, generate

HELD_OUT_MAKES = ("casio", "htc", "kodak", "nokia", "panasonic", "pentax")
"""36 of the 104 photos in shared/datasets/camera-originals (35%): two phone makers and four
camera makers, chosen so the larger makes (sony, hewlett-packard, apple, minolta) stay for
training."""


def is_held_out(photo: Photo) -> bool:
    return photo.make.lower() in HELD_OUT_MAKES


def held_out_photos(photos: Sequence[Photo]) -> list[Photo]:
    return [p for p in photos if is_held_out(p)]


def training_photos(photos: Sequence[Photo]) -> list[Photo]:
    """Photos a model may train on without leaking into the benchmark."""
    return [p for p in photos if not is_held_out(p)]


# The benchmark's fixed suite, built once per set of parameters into the user cache folder.

SUITE_VERSION = 1
"""Bump when the suite's layout or content rules change."""
QUALITY_BUCKETS = (("q75", 70, 80), ("q85", 81, 87), ("q90", 88, 92), ("q95", 93, 100))
"""Final-save quality buckets the benchmark reports (around 75, 85, 90 and 95)."""
CAMERA, CASIA = "camera", "casia"


def quality_bucket(settings: SaveSettings | None) -> str:
    """'camera' (the camera's own save), 'own tables', a bucket of QUALITY_BUCKETS, or 'q<70'."""
    if settings is None:
        return "camera"
    if settings.own_tables:
        return "own tables"
    if settings.quality is None:
        return "foreign tables"
    for name, low, high in QUALITY_BUCKETS:
        if low <= settings.quality <= high:
            return name
    return "q<70"


@dataclass(frozen=True)
class SuiteParams:
    photos: str | None
    """Folder of camera originals (only the HELD_OUT_MAKES are used); None: none."""
    casia: str | None = None
    """CASIA v1 folder: its validation split (split_dataset, val 0.2, seed 0); None: none."""
    seed: int = 0
    per_photo: int = 5
    max_side: int | None = 512
    max_photos: int | None = None
    """Only the first N held-out photos (for quick runs and tests)."""
    max_casia: int | None = None
    """Only the first N authentic and N tampered CASIA validation images."""
    casia_resaves: tuple[int, ...] = (75, 90)


@dataclass(frozen=True)
class SuiteItem:
    file: str
    """Absolute path (the cache, or the dataset for files used as they are)."""
    label: int
    kind: str
    category: str
    """'camera', 'casia', or 'casia-q75' / 'casia-q90' (re-saved, both classes alike)."""
    group: str
    """The pair id (camera) or CASIA group_id."""
    quality: str
    mask: str | None = None
    """Absolute path of an 8-bit PNG mask (255 = tampered), for tampered images that have one."""
    make: str = ""


@dataclass(frozen=True)
class SuiteProgress:
    stage: str
    done: int
    total: int


def _held_out(params: SuiteParams) -> list[Photo]:
    if params.photos is None:
        return []
    photos = held_out_photos(find_photos(params.photos))
    return photos[: params.max_photos] if params.max_photos is not None else photos


def _casia_val(params: SuiteParams) -> list[Sample]:
    if params.casia is None:
        return []
    val = split_dataset(scan_dataset(params.casia), val_fraction=0.2, seed=0).val
    if params.max_casia is not None:
        authentic = [s for s in val if s.label == 0][: params.max_casia]
        tampered = [s for s in val if s.label == 1][: params.max_casia]
        val = authentic + tampered
    return sorted(val, key=lambda s: str(s.path))


def suite_folder(params: SuiteParams, photos=None, casia=None) -> Path:
    """The cache folder of a suite: a hash of its parameters, the generator's version and the
    input files' names and sizes (not the folders' paths)."""
    photos = _held_out(params) if photos is None else photos
    casia = _casia_val(params) if casia is None else casia
    description = {
        # Inputs by name and size, not by folder path: the same data reached through another
        # path (a symlinked checkout) is the same suite.
        "params": {k: v for k, v in asdict(params).items() if k not in ("photos", "casia")},
        "versions": [GENERATOR_VERSION, SUITE_VERSION],
        "photos": [(p.path.name, p.path.stat().st_size) for p in photos],
        "casia": [(s.path.name, s.path.stat().st_size) for s in casia],
    }
    digest = hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()
    return user_cache_dir() / "detection-suite" / digest[:20]


def build_suite_iter(params: SuiteParams) -> Iterator[SuiteProgress]:
    """Write the suite into its cache folder (nothing to do when ``index.json`` is there)."""
    photos, casia = _held_out(params), _casia_val(params)
    folder = suite_folder(params, photos, casia)
    if (folder / "index.json").is_file():
        return
    items: list[SuiteItem] = []
    total = len(photos) * params.per_photo + len(casia) * (1 + len(params.casia_resaves))
    done = 0
    (folder / "camera").mkdir(parents=True, exist_ok=True)
    generated = generate(
        photos, params.seed, per_photo=params.per_photo, max_side=params.max_side, donors=photos
    )
    for index, g in enumerate(generated):
        name = f"camera/{index:05d}_{g.kind}"
        file = str(folder / f"{name}.jpg")
        if g.kind == "original":  # the camera file itself: read where it is, not copied
            file = str(g.photo.path)
        else:
            atomic_write_bytes(file, g.jpeg)
        mask = None
        if g.label:
            mask = str(folder / f"{name}_mask.png")
            Image.fromarray(g.mask.astype(np.uint8) * 255).save(mask)
        items.append(
            SuiteItem(
                file,
                g.label,
                g.kind,
                CAMERA,
                g.pair_id,
                quality_bucket(g.settings),
                mask,
                g.photo.make,
            )
        )
        if g.kind == "pair_authentic":
            done += 1
            yield SuiteProgress("camera suite", done, total)
    for quality in params.casia_resaves:
        (folder / f"casia-q{quality}").mkdir(exist_ok=True)
    for sample in casia:
        mask = str(sample.mask) if sample.mask is not None else None
        kind = "casia_tampered" if sample.label else "casia_authentic"
        items.append(
            SuiteItem(str(sample.path), sample.label, kind, CASIA, sample.group, "as is", mask)
        )
        with Image.open(sample.path) as image:
            rgb = image.convert("RGB")
        for quality in params.casia_resaves:
            path = folder / f"casia-q{quality}" / f"{sample.path.stem}.jpg"
            buffer = io.BytesIO()
            rgb.save(buffer, "JPEG", quality=quality)
            atomic_write_bytes(path, buffer.getvalue())
            category = f"casia-q{quality}"
            items.append(
                SuiteItem(str(path), sample.label, kind, category, sample.group, category, mask)
            )
        done += 1 + len(params.casia_resaves)
        yield SuiteProgress("CASIA validation", done, total)
    index = {"params": asdict(params), "items": [asdict(item) for item in items]}
    atomic_write_text(folder / "index.json", dumps(index, indent=1))  # strict JSON


def load_suite(params: SuiteParams) -> list[SuiteItem]:
    """The suite's items (build it first with ``build_suite_iter``)."""
    index = json.loads((suite_folder(params) / "index.json").read_text(encoding="utf-8"))
    return [SuiteItem(**item) for item in index["items"]]
