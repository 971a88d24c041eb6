"""Pure-Python state of the viewer: open documents, ELA settings and a memory-bounded pixel cache.

Nothing here imports Qt, so it is tested and reused without a display. Full-resolution arrays
(decoded pixels and raw ELA differences) live in a :class:`PixelCache`, an LRU with a byte budget
and a cap on how many images keep their pixels; thumbnails and facts stay with each document for
as long as it is open, so a long filmstrip costs little memory.
"""

from __future__ import annotations

import itertools
import os
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from forensic_viewer.core.images import ImageFacts, is_image_path, orient
from forensic_viewer.ml.verdict import HEADLINES, format_p_and_threshold  # torch-free

THUMBNAIL_SIZE = 160
DEFAULT_CACHE_BYTES = 640 * 1024 * 1024
DEFAULT_MAX_RESIDENT_IMAGES = 6
AUTO_PERCENTILE = 99.5
"""core.ela.AUTO_PERCENTILE, repeated so that importing this module does not load OpenCV (a test
checks they agree)."""
DEFAULT_FOLDER_CAP = 500
"""Most images opened from one drop or folder; the user is told when a folder holds more."""
_SCAN_ENTRY_LIMIT = 50_000
"""Directory entries examined per drop at most, so a drop of ``/`` cannot hang the window."""


@dataclass(frozen=True)
class ElaSettings:
    """What the user chose for the ELA display (persisted by ui.settings)."""

    quality: int = 90
    auto_brightness: bool = True
    gain: float = 20.0
    """Manual brightness factor, used when ``auto_brightness`` is False."""
    grayscale: bool = False
    auto_scale: str = "percentile"
    """With auto brightness: 'percentile' (255 / 99.5th percentile; the default, because the
    classic scale leaves camera photos nearly black) or 'classic' (255 / max_diff, exact)."""

    @property
    def scale(self) -> str | float:
        if not self.auto_brightness:
            return float(self.gain)
        return "auto" if self.auto_scale == "classic" else "percentile"

    def brightness_text(self) -> str:
        """How the brightness is chosen, in a few words (headers, reports)."""
        if not self.auto_brightness:
            return f"gain x{self.gain:g}"
        if self.auto_scale == "classic":
            return "auto brightness (classic: 255 / largest difference)"
        return f"auto brightness (255 / {AUTO_PERCENTILE:g}th percentile)"

    def header_brightness(self, gain: float) -> str:
        """The brightness in the ELA view's header: 'auto x5.1 (99.5th pct)', 'gain x20'."""
        if not self.auto_brightness:
            return f"gain x{gain:g}"
        return f"auto x{gain:.1f} ({'classic' if self.auto_scale == 'classic' else '99.5th pct'})"

    def describe(self) -> str:
        colour = ", grayscale" if self.grayscale else ""
        return f"JPEG quality {self.quality}, {self.brightness_text()}{colour}"


@dataclass
class Verdict:
    """The network's verdict on a document (filled by ui.verdicts for the active model).

    ``state`` is ml.verdict's: 'tampered', 'no_trace' or 'inconclusive' (then ``p_tampered`` is
    None when the model did not run, and ``reason`` says why)."""

    state: str
    p_tampered: float | None
    model_name: str
    threshold: float = 0.5
    reason: str = ""
    false_alarm_rate: float | None = None
    card_sha256: str = ""
    """The model card's ``weights_sha256``: identifies exactly which weights gave the verdict."""
    model_file: str = ""
    tiles: int = 1
    """Network inputs the verdict aggregates (tiles of the image, or 1 resized image)."""
    tile_stride: int | None = None
    exact: bool = True
    """False when a big image was scored with a wider tile stride than the model's recipe."""

    def as_dict(self) -> dict:
        return {
            "verdict": self.state,
            "reason": self.reason,
            "p_tampered": self.p_tampered,
            "threshold": self.threshold,
            "false_alarm_rate": self.false_alarm_rate,
            "model": self.model_name,
            "weights_sha256": self.card_sha256,
            "model_file": self.model_file,
            "tiles": self.tiles if self.p_tampered is not None else 0,
            "tile_stride": self.tile_stride,
            "recipe_stride_used": self.exact,
            "note": "a network's estimate, not proof: weigh it with the ELA and the metadata. "
            "'no_trace' means no evidence of tampering was found, not that the image is authentic",
        }


def verdict_text(verdict: Verdict) -> str:
    """'Tampered' / 'No trace found' / 'Inconclusive': the state, never a percentage (a
    P(tampered) of 0.47 above a 0.42 threshold is 'Tampered', not 'Tampered 47%')."""
    return HEADLINES.get(verdict.state, verdict.state)


def verdict_numbers(verdict: Verdict) -> str:
    """'P(tampered) 0.47 ≥ threshold 0.42', printed so the order of the numbers matches the
    state (ml.verdict.format_p_and_threshold), or '' when the model did not run."""
    if verdict.p_tampered is None:
        return ""
    p, threshold = format_p_and_threshold(verdict.p_tampered, verdict.threshold)
    sign = "≥" if verdict.p_tampered >= verdict.threshold else "<"
    return f"P(tampered) {p} {sign} threshold {threshold}"


def percent(p: float) -> str:
    """A probability for people: '87%'; never '100%' or '0%', which a network cannot claim."""
    text = f"{p:.0%}"
    return {"100%": ">99%", "0%": "<1%"}.get(text, text)


_ids = itertools.count(1)


def printable(text: str) -> str:
    """A file name safe to show: bytes that are not UTF-8 become U+FFFD instead of vanishing."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


@dataclass
class Document:
    """One open image. Heavy arrays are not stored here but in the PixelCache under ``id``."""

    path: Path
    facts: ImageFacts
    thumbnail: np.ndarray
    """RGB uint8, display orientation, at most THUMBNAIL_SIZE on its longer side."""
    warnings: list[str] = field(default_factory=list)
    verdict: Verdict | None = None
    id: int = field(default_factory=lambda: next(_ids))

    @property
    def name(self) -> str:
        """The file name as shown to the user (see ``printable``)."""
        return printable(self.path.name)

    @property
    def orientation(self) -> int:
        return self.facts.orientation

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as shown, after EXIF orientation."""
        w, h = self.facts.width, self.facts.height
        return (h, w) if self.facts.orientation in (5, 6, 7, 8) else (w, h)

    @property
    def estimated_quality(self) -> int | None:
        jpeg = self.facts.jpeg
        return None if jpeg is None or jpeg.quality is None else jpeg.quality.quality

    def pixels_key(self) -> tuple:
        return (self.id, "pixels")

    def diff_key(self, quality: int) -> tuple:
        return (self.id, "diff", int(quality))


def make_thumbnail(pixels: np.ndarray, orientation: int, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """A small display-oriented copy (box-filtered, so it stays representative)."""
    image = Image.fromarray(np.ascontiguousarray(orient(pixels, orientation)))
    image.thumbnail((size, size), Image.Resampling.BOX)
    return np.ascontiguousarray(np.asarray(image))


class PixelCache:
    """LRU of numpy arrays bounded by total bytes and by how many images keep pixels.

    Keys are tuples whose first item is a document id. The entries of pinned ids (the image on
    screen) are never evicted, so the array the view shows always stays reachable.
    """

    def __init__(
        self,
        budget_bytes: int = DEFAULT_CACHE_BYTES,
        max_images: int = DEFAULT_MAX_RESIDENT_IMAGES,
    ) -> None:
        self.budget_bytes = int(budget_bytes)
        self.max_images = int(max_images)
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._pinned: set[int] = set()
        self.evictions = 0

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self._items.values())

    def image_ids(self) -> list[int]:
        """Ids holding any entry, least recently used first."""
        return list(dict.fromkeys(key[0] for key in self._items))

    def get(self, key: Hashable) -> np.ndarray | None:
        array = self._items.get(key)
        if array is not None:
            self._items.move_to_end(key)
        return array

    def put(self, key: Hashable, array: np.ndarray) -> None:
        self._items[key] = array
        self._items.move_to_end(key)
        self._evict()

    def pin(self, doc_ids: Iterable[int]) -> None:
        self._pinned = set(doc_ids)
        self._evict()

    def drop_image(self, doc_id: int) -> int:
        """Forget every entry of one image; returns the bytes freed."""
        keys = [k for k in self._items if k[0] == doc_id]
        freed = sum(self._items[k].nbytes for k in keys)
        for key in keys:
            del self._items[key]
        return freed

    def drop_where(self, doc_id: int, keep: Iterable[Hashable]) -> None:
        """Forget one image's entries except ``keep`` (e.g. ELA diffs of other qualities)."""
        keep = set(keep)
        for key in [k for k in self._items if k[0] == doc_id and k not in keep]:
            del self._items[key]

    def clear(self) -> None:
        self._items.clear()

    def _evict(self) -> None:
        total = self.nbytes
        while True:
            ids = self.image_ids()
            too_many = len(ids) > self.max_images
            if total <= self.budget_bytes and not too_many:
                return
            victim = next((k for k in self._items if k[0] not in self._pinned), None)
            if victim is None:
                return  # only pinned entries are left; they must stay
            if too_many and total <= self.budget_bytes:
                # evict a whole image (the least recently used unpinned one), not one array
                victim_id = victim[0]
                total -= self.drop_image(victim_id)
                self.evictions += 1
                continue
            total -= self._items.pop(victim).nbytes
            self.evictions += 1


def expand_paths(
    paths: Iterable[str | os.PathLike], cap: int = DEFAULT_FOLDER_CAP
) -> tuple[list[Path], list[str]]:
    """Files to open from dropped files and folders (recursively), at most ``cap`` of them.

    Returns (files, messages). Plain files are kept whatever their suffix (load_image reports
    non-images by name); inside folders only image suffixes are taken, in sorted order.
    """
    files: list[Path] = []
    messages: list[str] = []
    seen: set[Path] = set()

    def add(path: Path) -> bool:
        key = path.absolute()
        if key not in seen:
            seen.add(key)
            files.append(path)
        return len(files) < cap

    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            if not add(path):
                break
            continue
        found, truncated, scanned_all = _scan_folder(path, cap - len(files))
        for item in found:
            add(item)
        if truncated:
            messages.append(
                f"{path.name}: more than {cap} images; only the first {cap} were opened"
            )
        elif not scanned_all:
            messages.append(f"{path.name}: folder too large to scan completely")
        elif not found:
            messages.append(f"{path.name}: no images found in this folder")
        if len(files) >= cap:
            break
    return files, messages


def _scan_folder(folder: Path, room: int) -> tuple[list[Path], bool, bool]:
    """Image files under ``folder`` in sorted order: (files, truncated, scanned_all)."""
    found: list[Path] = []
    examined = 0
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            examined += 1
            if examined > _SCAN_ENTRY_LIMIT:
                return found, False, False
            if is_image_path(name):
                if len(found) >= room:
                    return found, True, True
                found.append(Path(root) / name)
    return found, False, True
