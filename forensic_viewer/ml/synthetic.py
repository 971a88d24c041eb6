"""Synthetic tampering from untouched photos: pairs that differ only inside a pixel mask.

For each target photo and round, ``generate`` yields one tampered image and its authentic
counterpart (the same target crop saved with exactly the same settings), plus one
innocent-operation authentic. A detector cannot score on such pairs by reading how a file was last
saved, which is the shortcut CASIA allows (see ``shared/docs/detection-notes.md``).

Tampering kinds (the region: an irregular polygon or a blob covering 2-15%, hard or feathered
1-3 px edges, at arbitrary offsets, about 10% of them on the final 8-px grid):

- ``splice_camera``: from another photo decoded straight from its camera file; in 30% of cases
  rotated (up to 30 degrees) and in 30% scaled 0.7-1.3x, as CASIA's forgers did.
- ``splice_web`` / ``splice_web_resized``: the donor is first saved at q60-80 as if downloaded,
  then pasted as is (exact pixels) or resized 0.6-1.4x (30% also rotated).
- ``copy_move`` / ``copy_move_resized``: a region moved inside the target, as is or resized.
- Any kind: in 15% of cases pasted with partial opacity (0.6-0.95), in 15% with its mean colour
  matched towards the destination (an editor's blending).

The final save is quality 70-100 (or ``qualities``) with 4:2:0 or 4:4:4, or in 20% of cases the
target's own quantization tables; optionally (``foreign_tables_share``) another photo's tables,
an editor-like non-IJG save. Innocent operations: the untouched file, a re-save of an
8-aligned crop, a messenger copy (<= 1600 px, q70-80, 4:2:0), a crop off the grid, a re-save of a
re-save. Kinds are cycled per photo (from a random start) so that ``per_photo=5`` gives every
tampering kind and every innocent operation once per photo.

Determinism: each (seed, photo file name, round) has its own random stream, so the output for a
photo does not depend on the other photos (except for the choice of donor among them).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import simplejpeg
from PIL import Image, JpegImagePlugin

from . import synthetic_regions as regions

GENERATOR_VERSION = 1
"""Bump when the output for a given seed changes, so cached suites are rebuilt."""

AUTHENTIC_KINDS = ("pair_authentic", "original", "resave", "messenger", "crop", "double_resave")
TAMPERED_KINDS = (
    "splice_camera",
    "splice_web",
    "splice_web_resized",
    "copy_move",
    "copy_move_resized",
)
INNOCENT_KINDS = AUTHENTIC_KINDS[1:]
JPEG_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif"})
FINAL_QUALITY = (70, 100)
WEB_QUALITY = (60, 80)
MESSENGER_QUALITY = (70, 80)
MESSENGER_SIDE = 1600
OWN_TABLES_SHARE = 0.2
ALIGNED_SHARE = 0.1
SUBSAMPLINGS = ("4:2:0", "4:4:4")


@dataclass(frozen=True)
class Photo:
    """One untouched source photo."""

    path: Path
    make: str
    """Camera make, lower-case ('' if unknown): MANIFEST.tsv when present, else EXIF Make."""
    model: str


@dataclass(frozen=True)
class SaveSettings:
    """The last save of a generated file."""

    quality: int | None
    """None when the target's own tables were used."""
    subsampling: str
    """'4:2:0' or '4:4:4'."""
    own_tables: bool
    """True: saved with the target's own quantization tables (Pillow ``qtables=``)."""
    tables_from: str = ""
    """The file name of another photo whose quantization tables the save used (non-IJG tables,
    as an editor or another device writes; ``generate(foreign_tables_share=...)``), else ''."""


@dataclass
class Generated:
    jpeg: bytes
    """The final file's bytes (for 'original': the untouched camera file's bytes)."""
    label: int
    """0 authentic, 1 tampered."""
    kind: str
    mask: np.ndarray
    """bool, H x W of the decoded jpeg; all False for authentic."""
    photo: Photo
    pair_id: str
    """A tampered image and its 'pair_authentic' counterpart share it (same last save)."""
    settings: SaveSettings | None
    """None for 'original'."""
    params: dict = field(default_factory=dict)
    """How it was made (crop, region, donor, angle, scale, blend...), for reports and debugging."""


def _exif_make_model(path: Path) -> tuple[str, str]:
    try:
        with Image.open(path) as image:
            exif = image.getexif()
    except (OSError, SyntaxError, ValueError):
        return "", ""
    make = str(exif.get(271, "")).strip("\x00 ").lower()
    model = str(exif.get(272, "")).strip("\x00 ")
    return make, model


def find_photos(folder: str | Path) -> list[Photo]:
    """JPEGs below ``folder`` (recursively, hidden entries skipped), sorted by relative path.
    Make and model come from a ``MANIFEST.tsv`` with ``file``/``make``/``model`` columns at the
    top of the folder when it lists the file, else from EXIF."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder")
    listed: dict[str, tuple[str, str]] = {}
    manifest = folder / "MANIFEST.tsv"
    if manifest.is_file():
        with manifest.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                if row.get("file") and "make" in row:
                    listed[row["file"]] = (row["make"].strip().lower(), row.get("model") or "")
    photos = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.suffix.lower() not in JPEG_SUFFIXES or not path.is_file():
            continue
        if any(part.startswith(".") for part in relative.parts):
            continue
        make, model = listed.get(relative.as_posix()) or _exif_make_model(path)
        photos.append(Photo(path, make, model))
    return photos


def decode_jpeg(data: bytes) -> np.ndarray:
    """RGB uint8 pixels on the stored grid, identical to Pillow's (libjpeg-turbo, exact DCT)."""
    try:
        return simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=False, fastupsample=False)
    except ValueError:  # CMYK and other layouts simplejpeg refuses
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))


def _subsampling_name(image: Image.Image) -> str:
    return "4:4:4" if JpegImagePlugin.get_sampling(image) == 0 else "4:2:0"


@lru_cache(maxsize=4)
def _decoded(path: str) -> tuple[np.ndarray, tuple, str]:
    """(pixels, first two quantization tables, nearest allowed subsampling) of a photo; cached
    because a photo is the target of several rounds and the donor of others."""
    data = Path(path).read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        tables = [tuple(int(v) for v in t) for t in (image.quantization or {}).values()]
        subsampling = _subsampling_name(image)
    if len(tables) == 1:  # a grayscale file: its one table serves both components
        tables.append(tables[0])
    pixels = decode_jpeg(data)
    pixels.flags.writeable = False
    return pixels, tuple(tables[:2]), subsampling


def encode_jpeg(rgb: np.ndarray, settings: SaveSettings, tables: Sequence | None = None) -> bytes:
    """Save with Pillow (baseline, no optimisation, no metadata)."""
    options: dict = {"subsampling": 0 if settings.subsampling == "4:4:4" else 2}
    if settings.own_tables or settings.tables_from:
        options["qtables"] = [list(t) for t in tables]
    else:
        options["quality"] = int(settings.quality)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def _photo_key(photo: Photo) -> int:
    return int.from_bytes(hashlib.sha256(photo.path.name.encode()).digest()[:8], "little")


def _quality(rng: np.random.Generator, qualities: Sequence[int] | None) -> int:
    if qualities:
        return int(qualities[int(rng.integers(len(qualities)))])
    return int(rng.integers(FINAL_QUALITY[0], FINAL_QUALITY[1] + 1))


def _plain_settings(rng, qualities) -> SaveSettings:
    quality = _quality(rng, qualities)
    return SaveSettings(quality, SUBSAMPLINGS[int(rng.integers(2))], False)


def _final_settings(rng, subsampling: str, qualities) -> SaveSettings:
    if rng.random() < OWN_TABLES_SHARE:
        return SaveSettings(None, subsampling, True)
    return _plain_settings(rng, qualities)


def _window(rng, height: int, width: int, side: int | None, aligned: bool, scale: float = 1.0):
    """(top, left, h, w): a random window of at most ``side`` x ``side`` (None: everything);
    ``aligned`` puts its corner on the file's 8-px grid."""
    h = height if side is None else min(height, side)
    w = width if side is None else min(width, side)
    top = int(rng.integers(0, height - h + 1))
    left = int(rng.integers(0, width - w + 1))
    if aligned:
        top, left = top - top % 8, left - left % 8
    return top, left, h, w


def _resize_factor(rng, low: float, high: float) -> float:
    """A factor in [low, high] at least 5% away from 1, so a 'resized' paste is resampled."""
    while True:
        factor = float(rng.uniform(low, high))
        if abs(factor - 1.0) >= 0.05:
            return factor


def _pick_donor(rng, photo: Photo, pool: Sequence[Photo]) -> Photo:
    others = [p for p in pool if p.path != photo.path] or list(pool)
    return others[int(rng.integers(len(others)))]


def _place(rng, limit: int, size: int, destination: int, aligned: bool) -> int:
    """A source coordinate in [0, limit - size]; when ``aligned``, congruent to ``destination``
    mod 8 (the pasted content's grid then lands on the final save's grid)."""
    high = max(0, limit - size)
    value = int(rng.integers(0, high + 1))
    if aligned:
        value -= (value - destination) % 8
        if value < 0:
            value += 8 if value + 8 <= high else 0
    return max(0, min(value, high))


def _source_patch(rng, source, box, destination, angle, scale, aligned, avoid=False):
    """The pixels pasted into the box (h, w) at destination (top, left): exact pixels for a pure
    translation, else a rotated/scaled resampling. ``avoid`` (copy-move) keeps the source away
    from the destination."""
    h, w = box
    height, width = source.shape[:2]
    best, best_gap = None, -1.0
    for _ in range(16 if avoid else 1):
        if angle == 0.0 and scale == 1.0 and height >= h and width >= w:
            top = _place(rng, height, h, destination[0], aligned)
            left = _place(rng, width, w, destination[1], aligned)
            centre = (left + (w - 1) / 2.0, top + (h - 1) / 2.0)
            candidate = ("translate", top, left)
        else:
            half_h, half_w = regions.warped_extent(h, w, angle, scale)
            cy = rng.uniform(min(half_h, height / 2), max(height - half_h, height / 2))
            cx = rng.uniform(min(half_w, width / 2), max(width - half_w, width / 2))
            centre = (float(cx), float(cy))
            candidate = ("warp", centre)
        gap = max(
            abs(centre[1] - (destination[0] + (h - 1) / 2.0)) / h,
            abs(centre[0] - (destination[1] + (w - 1) / 2.0)) / w,
        )
        if gap > best_gap:
            best, best_gap = candidate, gap
        if gap >= 0.6:
            break
    if best[0] == "translate":
        _, top, left = best
        return regions.translated_patch(source, top, left, h, w), {"source": [top, left]}
    centre = best[1]
    patch = regions.warped_patch(source, centre, h, w, angle, scale)
    return patch, {"source_centre": [round(centre[1], 2), round(centre[0], 2)]}


def _tampered_pair(photo, kind, rng, pool, max_side, qualities, with_pair, pair_id, foreign=0.0):
    full, tables, own_subsampling = _decoded(str(photo.path))
    top, left, h, w = _window(rng, full.shape[0], full.shape[1], max_side, aligned=False)
    target = full[top : top + h, left : left + w]
    box = regions.region_mask(rng, h, w)
    bh, bw = box.shape
    dy, dx = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
    feather = 0 if rng.random() < 0.5 else int(rng.integers(1, 4))
    alpha = regions.feathered_alpha(box, feather)
    aligned = bool(rng.random() < ALIGNED_SHARE)
    angle, scale = 0.0, 1.0
    params: dict = {
        "crop": [top, left, h, w],
        "region": [dy, dx, bh, bw],
        "area": round(float(box.sum()) / (h * w), 4),
        "feather": feather,
        "aligned": aligned,
    }
    if kind in ("splice_camera", "splice_web", "splice_web_resized"):
        donor = _pick_donor(rng, photo, pool)
        source = _decoded(str(donor.path))[0]
        params["donor"] = donor.path.name
        if kind == "splice_camera":
            angle = float(rng.uniform(-30, 30)) if rng.random() < 0.3 else 0.0
            scale = _resize_factor(rng, 0.7, 1.3) if rng.random() < 0.3 else 1.0
        else:
            if kind == "splice_web_resized":
                scale = _resize_factor(rng, 0.6, 1.4)
                angle = float(rng.uniform(-30, 30)) if rng.random() < 0.3 else 0.0
            # The downloaded picture: a window of the donor around what will be pasted, saved
            # once at q60-80; its grid starts at the window's corner.
            half_h, half_w = regions.warped_extent(bh, bw, angle, scale)
            need_h, need_w = int(2 * half_h) + 32, int(2 * half_w) + 32
            wt = int(rng.integers(0, max(0, source.shape[0] - need_h) + 1))
            wl = int(rng.integers(0, max(0, source.shape[1] - need_w) + 1))
            web_settings = SaveSettings(
                int(rng.integers(WEB_QUALITY[0], WEB_QUALITY[1] + 1)),
                "4:2:0" if rng.random() < 0.8 else "4:4:4",
                False,
            )
            window = source[wt : wt + need_h, wl : wl + need_w]
            source = decode_jpeg(encode_jpeg(window, web_settings))
            params["web"] = {"quality": web_settings.quality, "sub": web_settings.subsampling}
    else:
        source = target
        if kind == "copy_move_resized":
            scale = _resize_factor(rng, 0.6, 1.4)
            angle = float(rng.uniform(-30, 30)) if rng.random() < 0.3 else 0.0
    patch, where = _source_patch(
        rng, source, (bh, bw), (dy, dx), angle, scale, aligned, avoid=kind.startswith("copy")
    )
    params.update(where, angle=round(angle, 3), scale=round(scale, 4))
    destination = target[dy : dy + bh, dx : dx + bw]
    blend = rng.random()
    if blend < 0.15:
        opacity = float(rng.uniform(0.6, 0.95))
        alpha = alpha * opacity
        params["blend"] = f"opacity {opacity:.2f}"
    elif blend < 0.3:
        strength = float(rng.uniform(0.3, 1.0))
        patch = regions.tone_matched(patch, destination, strength)
        params["blend"] = f"tone {strength:.2f}"
    else:
        params["blend"] = "none"
    tampered = regions.composite(target, patch, alpha, dy, dx)
    mask = np.zeros((h, w), bool)
    mask[dy : dy + bh, dx : dx + bw] = box
    settings = _final_settings(rng, own_subsampling, qualities)
    if foreign > 0 and rng.random() < foreign:  # drawn only when asked: seeds keep their output
        other = _pick_donor(rng, photo, pool)
        tables = _decoded(str(other.path))[1]
        settings = SaveSettings(None, settings.subsampling, False, other.path.name)
    yield Generated(
        encode_jpeg(tampered, settings, tables), 1, kind, mask, photo, pair_id, settings, params
    )
    if with_pair:
        yield Generated(
            encode_jpeg(target, settings, tables),
            0,
            "pair_authentic",
            np.zeros((h, w), bool),
            photo,
            pair_id,
            settings,
            {"crop": params["crop"]},
        )


def generate(
    photos: Sequence[Photo],
    seed: int,
    *,
    per_photo: int = 1,
    kinds: Sequence[str] | None = None,
    max_side: int | None = 1024,
    donors: Sequence[Photo] | None = None,
    qualities: Sequence[int] | None = None,
    foreign_tables_share: float = 0.0,
) -> Iterator[Generated]:
    """Deterministic under seed. For each target photo and each of ``per_photo`` rounds: one
    tampered image and its 'pair_authentic' (target saved with exactly the same settings), plus
    one innocent-operation authentic, each kind cycled over the requested ``kinds`` (default:
    all). ``max_side``: the target is first cropped (a random, not necessarily 8-aligned,
    window) to at most max_side x max_side; None keeps the full photo. ``donors``: photos to
    splice from (default: ``photos``). ``qualities``: final-save qualities to draw from instead
    of 70-100. ``foreign_tables_share``: the share of pairs whose final save uses another
    photo's quantization tables (an editor's or another device's non-IJG save, as CASIA's
    forgeries were saved by Photoshop); 0 leaves every seed's output as it was."""
    from .synthetic_innocent import innocent  # it builds on this module's helpers

    wanted = tuple(AUTHENTIC_KINDS + TAMPERED_KINDS) if kinds is None else tuple(kinds)
    unknown = sorted(set(wanted) - set(AUTHENTIC_KINDS + TAMPERED_KINDS))
    if unknown:
        raise ValueError(f"unknown kinds: {', '.join(unknown)}")
    tampered_kinds = [k for k in TAMPERED_KINDS if k in wanted]
    innocent_kinds = [k for k in INNOCENT_KINDS if k in wanted]
    pool = list(donors) if donors is not None else list(photos)
    for photo in photos:
        key = _photo_key(photo)
        start = np.random.default_rng([seed, key, 0])
        tampered_start = int(start.integers(max(1, len(tampered_kinds))))
        innocent_start = int(start.integers(max(1, len(innocent_kinds))))
        for round_index in range(per_photo):
            pair_id = f"{photo.path.stem}-s{seed}-r{round_index}"
            if tampered_kinds:
                kind = tampered_kinds[(tampered_start + round_index) % len(tampered_kinds)]
                rng = np.random.default_rng([seed, key, round_index + 1, 1])
                yield from _tampered_pair(
                    photo,
                    kind,
                    rng,
                    pool,
                    max_side,
                    qualities,
                    "pair_authentic" in wanted,
                    pair_id,
                    foreign_tables_share,
                )
            if innocent_kinds:
                kind = innocent_kinds[(innocent_start + round_index) % len(innocent_kinds)]
                rng = np.random.default_rng([seed, key, round_index + 1, 2])
                yield innocent(photo, kind, rng, max_side, qualities, pair_id)
