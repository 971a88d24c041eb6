"""The viewer's controller: open documents, load them and compute ELA in workers, drop stale work.

No widgets here. The window connects to the signals; the network issue's verdict worker can hook
``currentChanged`` / ``documentAdded`` and reuse ``pool`` and :class:`GenerationCounter`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from forensic_viewer.core.errors import ImageLoadError
from forensic_viewer.core.images import ImageFacts, load_image, orient, pad_missing_rows

from ..viewer.display import area_reduce, block_max, display_factor
from ..viewer.document import (
    DEFAULT_FOLDER_CAP,
    Document,
    ElaSettings,
    PixelCache,
    expand_paths,
    make_thumbnail,
)
from ..workers import GenerationCounter, Worker, WorkerPool


@dataclass(frozen=True)
class Loaded:
    path: Path
    facts: ImageFacts
    pixels: np.ndarray
    thumbnail: np.ndarray


@dataclass(frozen=True)
class LoadFailed:
    path: Path
    message: str


@dataclass(frozen=True)
class ElaFrame:
    """One ELA result ready to show, all arrays in display orientation."""

    doc_id: int
    settings: ElaSettings
    original: np.ndarray
    """The decoded pixels in display orientation, full size (the values under the mouse)."""
    diff: np.ndarray
    rendering: np.ndarray
    """What the ELA view shows: reduced by ``display_factor`` (block maximum) for huge images."""
    max_diff: int
    gain: float
    seconds: float
    """Time spent in the worker (JPEG round trip if needed, plus rendering)."""
    recomputed: bool
    """True when the JPEG round trip ran; False when only the brightness rendering changed."""
    stored_diff: np.ndarray
    """The raw difference on the stored pixel grid (what the cache keeps)."""
    display_original: np.ndarray | None = None
    """What the original view shows: ``original`` itself, or its reduced copy."""
    display_factor: int = 1

    def full_rendering(self) -> np.ndarray:
        """The ELA rendering at full resolution (exports), rendered again if it was reduced."""
        if self.display_factor == 1:
            return self.rendering
        from forensic_viewer.core.ela import render

        return render(self.diff, self.gain, self.settings.grayscale)[0]


def load_many(paths: list[Path]):
    """Generator job: decode files one by one; a failure is a result, never an exception."""
    for path in paths:
        try:
            loaded = load_image(path)
        except ImageLoadError as exc:
            yield LoadFailed(path, str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
            yield LoadFailed(path, f"{path.name}: unexpected error ({type(exc).__name__}: {exc})")
            continue
        # a cut-off file's thumbnail has its true shape, the missing part hatched as in the view
        shown = pad_missing_rows(loaded.pixels, loaded.facts.height)
        thumbnail = make_thumbnail(shown, loaded.facts.orientation)
        yield Loaded(path, loaded.facts, loaded.pixels, thumbnail)


def compute_ela_frame(
    doc_id: int,
    pixels: np.ndarray,
    orientation: int,
    settings: ElaSettings,
    diff: np.ndarray | None,
    height: int | None = None,
) -> ElaFrame:
    """Worker job: JPEG round trip only when ``diff`` is missing, then the cheap rendering.

    ``height``: the declared height of a cut-off file whose ``pixels`` are only its decoded top
    rows; the frame shows the missing rows hatched in the original and blank in the ELA."""
    # imported here: OpenCV costs ~0.1 s of start-up and is first needed in this worker
    from forensic_viewer.core.analyses import REGISTRY
    from forensic_viewer.core.ela import scale_gain

    ela = REGISTRY["ela"]  # the registry's ELA, in its two steps (the raw difference is kept)
    started = time.perf_counter()
    recomputed = diff is None
    if diff is None:
        diff = ela.difference(pixels, settings.quality)
    max_diff = int(diff.max()) if diff.size else 0
    full = pixels.shape[0] if height is None else height
    factor = display_factor(pixels.shape[1], full)
    if factor == 1:
        rendering, gain = ela.render(diff, settings.scale, settings.grayscale, max_diff)
        original = shown = _display(pad_missing_rows(pixels, full), orientation)
        rendering = pad_missing_rows(rendering, full, hatch=False)
    else:  # a huge image: the views draw reduced copies, at the full image's gain
        gain = scale_gain(diff, settings.scale, max_diff, settings.grayscale)
        original = orient(pad_missing_rows(pixels, full), orientation)
        shown = _display(area_reduce(pad_missing_rows(pixels, full), factor), orientation)
        padded = pad_missing_rows(diff, full, hatch=False)
        rendering, _ = ela.render(block_max(padded, factor), gain, settings.grayscale)
    return ElaFrame(
        doc_id=doc_id,
        settings=settings,
        original=original,
        diff=orient(pad_missing_rows(diff, full, hatch=False), orientation),
        rendering=_display(rendering, orientation),
        display_original=shown,
        display_factor=factor,
        max_diff=max(max_diff, 1),
        gain=gain,
        seconds=time.perf_counter() - started,
        recomputed=recomputed,
        stored_diff=diff,
    )


def _identity(path: str | Path) -> str:
    """One key per file whatever the spelling (relative, ``..``, symbolic links)."""
    return os.path.realpath(path)


def _display(array: np.ndarray, orientation: int) -> np.ndarray:
    """Oriented and C-contiguous, so pyqtgraph can wrap it in a QImage without another copy."""
    return np.ascontiguousarray(orient(array, orientation))


class Session(QObject):
    documentAdded = Signal(object)  # Document
    documentRemoved = Signal(int)  # document id
    documentChanged = Signal(object)  # Document whose facts changed (file modified on disk)
    currentChanged = Signal(object)  # Document | None
    elaReady = Signal(object)  # ElaFrame for the current document and settings
    elaFailed = Signal(str)
    message = Signal(str)  # non-modal user message (file name + reason)
    loadFinished = Signal(int, int)  # opened, failed

    def __init__(
        self,
        cache: PixelCache | None = None,
        settings: ElaSettings | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.cache = cache if cache is not None else PixelCache()  # an empty cache is falsy
        self.settings = settings or ElaSettings()
        self.pool = WorkerPool(max_threads=3, parent=self)
        self.documents: list[Document] = []
        self.current: Document | None = None
        self.view_generation = GenerationCounter()
        """Bumped whenever the shown image or its settings change; stale ELA results are dropped."""
        self.last_frame: ElaFrame | None = None
        self.folder_cap = DEFAULT_FOLDER_CAP
        self._loading = 0
        self._busy = False  # an ELA (or re-load) job is running
        self._pending = False  # a newer request waits for it
        self._by_identity: dict[str, Document] = {}
        self._queued: set[str] = set()  # files being loaded, so a second drop does not add them

    # ---- opening and closing -------------------------------------------------------------
    def open_paths(self, paths: list[str | Path], select_first: bool = True) -> Worker | None:
        files, notes = expand_paths(paths, cap=self.folder_cap)
        for note in notes:
            self.message.emit(note)
        fresh: list[Path] = []
        first_existing: Document | None = None
        for path in files:
            existing = self.find(path)
            if existing is None and _identity(path) not in self._queued:
                fresh.append(path)
                self._queued.add(_identity(path))
            elif existing is not None and first_existing is None:
                first_existing = existing
        if first_existing is not None and select_first and not fresh:
            self.set_current(first_existing)
        if not fresh:
            return None
        worker = Worker(load_many, fresh)
        counts = {"opened": 0, "failed": 0, "selected": not select_first}
        worker.yielded.connect(lambda item: self._on_loaded(item, counts))
        worker.finished.connect(lambda: self._on_load_done(counts))
        self._loading += 1
        return self.pool.start(worker)

    def find(self, path: str | Path) -> Document | None:
        """The open document for ``path`` (also through links or another spelling)."""
        return self._by_identity.get(_identity(path))

    def _on_loaded(self, item: Loaded | LoadFailed, counts: dict) -> None:
        self._queued.discard(_identity(item.path))
        if isinstance(item, LoadFailed):
            counts["failed"] += 1
            self.message.emit(item.message)
            return
        doc = Document(path=item.path, facts=item.facts, thumbnail=item.thumbnail)
        self.documents.append(doc)
        self._by_identity[_identity(doc.path)] = doc
        self.cache.put(doc.pixels_key(), item.pixels)
        counts["opened"] += 1
        if item.facts.truncated:  # opened, but the investigator must know it is not all there
            self.message.emit(
                f"{item.path.name}: truncated file, {item.facts.describe_decoded()}; the missing "
                "part is hatched and ELA and verdict cover only the decoded rows"
            )
        self.documentAdded.emit(doc)
        if not counts["selected"]:
            counts["selected"] = True
            self.set_current(doc)

    def _on_load_done(self, counts: dict) -> None:
        self._loading -= 1
        self.loadFinished.emit(counts["opened"], counts["failed"])

    def close_document(self, doc: Document) -> None:
        if doc not in self.documents:
            return
        index = self.documents.index(doc)
        self.documents.remove(doc)
        self._by_identity = {k: d for k, d in self._by_identity.items() if d is not doc}
        self.cache.drop_image(doc.id)
        self.documentRemoved.emit(doc.id)
        if self.current is doc:
            self.last_frame = None
            neighbour = (
                self.documents[min(index, len(self.documents) - 1)] if self.documents else None
            )
            self.set_current(neighbour)

    def close_all(self) -> None:
        for doc in list(self.documents):
            self.close_document(doc)

    # ---- what is shown ---------------------------------------------------------------------
    def set_current(self, doc: Document | None) -> None:
        if doc is self.current and (
            doc is None or self.last_frame is not None or self._busy or self._pending
        ):
            return  # already shown or on its way
        self.current = doc
        self.last_frame = None
        self.cache.pin([] if doc is None else [doc.id])
        self.currentChanged.emit(doc)
        self._request()

    def set_settings(self, settings: ElaSettings) -> None:
        if settings == self.settings:
            return
        self.settings = settings
        self._request()

    def step(self, offset: int) -> None:
        """Show the document ``offset`` places after the current one (clamped)."""
        if not self.documents:
            return
        index = self.documents.index(self.current) if self.current in self.documents else 0
        index = min(max(index + offset, 0), len(self.documents) - 1)
        self.set_current(self.documents[index])

    def pixels(self, doc: Document) -> np.ndarray | None:
        """The decoded pixels if they are in memory (always true for the current document)."""
        return self.cache.get(doc.pixels_key())

    def is_computing(self) -> bool:
        """An ELA (or the re-load of an evicted image) is running for the shown image."""
        return self._busy

    def is_idle(self) -> bool:
        return self.pool.is_idle() and self._loading == 0 and not self._pending

    def _request(self) -> None:
        """Something on screen changed: results of earlier requests are stale from now on.

        At most one ELA job runs at a time; while it runs, only the latest request is kept and
        it starts as soon as the running one ends. A JPEG round trip cannot be interrupted, so
        starting a second one would only halve the speed of both (two cores).
        """
        self.view_generation.bump()
        if self._busy:
            self._pending = True
            return
        self._start()

    def _start(self) -> None:
        doc, generation = self.current, self.view_generation.value
        if doc is None:
            return
        settings = self.settings
        pixels = self.cache.get(doc.pixels_key())
        if pixels is None:  # evicted by the LRU: decode the file again
            worker = Worker(load_image, doc.path)
            worker.returned.connect(lambda loaded, g=generation: self._on_reloaded(doc, loaded, g))
        else:
            diff = self.cache.get(doc.diff_key(settings.quality))
            # one raw difference per image: the memory budget is for many images, not qualities
            self.cache.drop_where(doc.id, keep=[doc.pixels_key(), doc.diff_key(settings.quality)])
            worker = Worker(
                compute_ela_frame, doc.id, pixels, doc.orientation, settings, diff, doc.facts.height
            )
            worker.returned.connect(lambda frame, g=generation: self._on_frame(doc, frame, g))
        worker.errored.connect(lambda exc, g=generation: self._on_failed(doc, exc, g))
        worker.finished.connect(self._on_job_finished)  # before the pool's own handler
        self._busy = True
        self.pool.start(worker, generation)

    def _on_job_finished(self) -> None:
        self._busy = False
        if self._pending:
            self._pending = False
            self._start()

    def _on_reloaded(self, doc: Document, loaded, generation: int) -> None:
        if doc not in self.documents:
            return
        if loaded.facts.sha256 != doc.facts.sha256:
            self.message.emit(
                f"{doc.name}: the file changed on disk since it was opened "
                f"(SHA-256 {doc.facts.sha256[:12]}... is now {loaded.facts.sha256[:12]}...)"
            )
            doc.facts = loaded.facts
            self.documentChanged.emit(doc)
        self.cache.put(doc.pixels_key(), loaded.pixels)
        if self.view_generation.accept(generation):
            self._pending = True  # the ELA starts when this job's finished signal arrives

    def _on_frame(self, doc: Document, frame: ElaFrame, generation: int) -> None:
        same_quality = doc is self.current and frame.settings.quality == self.settings.quality
        if frame.recomputed and same_quality:
            # keep the raw difference (stored grid): a brightness change, even one made while
            # this job ran, then skips the JPEG round trip
            self.cache.put(doc.diff_key(frame.settings.quality), frame.stored_diff)
        if not self.view_generation.accept(generation) or doc is not self.current:
            return
        self.last_frame = frame
        self.elaReady.emit(frame)

    def _on_failed(self, doc: Document, exc: Exception, generation: int) -> None:
        if not self.view_generation.accept(generation):
            return
        text = str(exc) if isinstance(exc, ImageLoadError) else f"{doc.name}: {exc}"
        self.message.emit(text)
        self.elaFailed.emit(text)

    def shutdown(self) -> None:
        self.view_generation.bump()
        self.pool.shutdown()
