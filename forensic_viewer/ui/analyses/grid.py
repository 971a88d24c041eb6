"""Quality grid: ELA at several JPEG qualities side by side, all views linked (the 'JPEG ghost').

A region saved at another quality than the rest lights up differently across the cells. The cell
closest to the quality estimated from the file's own quantization tables is highlighted. Cells are
computed in a worker, one per ``yield``, with a progress bar; stale runs are dropped.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from forensic_viewer.core.images import orient

from ..settings import DEFAULT_GRID_QUALITIES, parse_qualities
from ..viewer.document import Document, ElaSettings
from ..viewer.export import GridCell
from ..viewer.image_views import ImagePane, ViewLinker
from ..workers import GenerationCounter, Worker, WorkerPool

MAX_CELL_PIXELS = 6_000_000
"""Larger images are reduced per cell (block maximum, so small bright spots survive)."""
COLUMNS = 3
MARKER = "  ◀\u00a0file"
"""Header mark of the cell closest to the file's own quality (short: cells can be narrow)."""


def block_max(array: np.ndarray, factor: int) -> np.ndarray:
    """Reduce by an integer factor keeping each block's maximum (edges padded by repetition)."""
    if factor <= 1:
        return array
    h, w = array.shape[:2]
    ph, pw = -(-h // factor) * factor, -(-w // factor) * factor
    if (ph, pw) != (h, w):
        pad = [(0, ph - h), (0, pw - w)] + [(0, 0)] * (array.ndim - 2)
        array = np.pad(array, pad, mode="edge")
    shape = (ph // factor, factor, pw // factor, factor, *array.shape[2:])
    return array.reshape(shape).max(axis=(1, 3))


def downsample_factor(width: int, height: int, max_pixels: int = MAX_CELL_PIXELS) -> int:
    factor = 1
    while (width // factor) * (height // factor) > max_pixels:
        factor += 1
    return factor


def closest_quality(qualities: list[int], estimated: int | None) -> int | None:
    if estimated is None or not qualities:
        return None
    return min(qualities, key=lambda q: (abs(q - estimated), -q))


def compute_grid(pixels: np.ndarray, orientation: int, qualities: list[int], settings: ElaSettings):
    """Generator job: one GridCell per quality, in order, from the registry's quality grid."""
    from forensic_viewer.core.analyses import REGISTRY  # lazy: see session.py

    factor = downsample_factor(pixels.shape[1], pixels.shape[0])
    cells = REGISTRY["grid"].cells(pixels, qualities, settings.scale, settings.grayscale)
    for cell in cells:
        started = time.perf_counter()
        rendering = np.ascontiguousarray(block_max(orient(cell.rendering, orientation), factor))
        yield GridCell(
            quality=cell.quality,
            rendering=rendering,
            gain=cell.gain,
            max_diff=cell.max_diff,
            seconds=cell.seconds + time.perf_counter() - started,
            downsample=factor,
        )


class QualityGrid(QWidget):
    cellReady = Signal(object)  # GridCell
    completed = Signal()
    qualitiesChanged = Signal(list)
    hovered = Signal(float, float)
    zoomChanged = Signal(float)

    def __init__(self, pool: WorkerPool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pool = pool
        self.generation = GenerationCounter()
        self.qualities: list[int] = list(DEFAULT_GRID_QUALITIES)
        self.cells: dict[int, GridCell] = {}
        self.highlight: int | None = None
        self._inputs: tuple | None = None  # what the cells were computed from
        self._wanted: tuple | None = None
        self._doc: Document | None = None
        self._pixels: np.ndarray | None = None
        self._settings = ElaSettings()
        self._worker: Worker | None = None

        self.qualities_edit = QLineEdit(", ".join(map(str, self.qualities)))
        self.qualities_edit.setToolTip(
            "JPEG qualities to compare, separated by commas (1-100). Press Enter to apply."
        )
        self.qualities_edit.editingFinished.connect(self._on_qualities_edited)
        metrics = self.qualities_edit.fontMetrics()
        self.qualities_edit.setMinimumWidth(
            metrics.horizontalAdvance("60, 70, 80, 90, 95, 100") + 24
        )
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setFormat("%v / %m cells")
        self.estimate = QLabel()
        self.estimate.setWordWrap(True)  # the qualities field keeps its room on small screens
        self.estimate.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.estimate.setToolTip(
            "Quality estimated from the file's own quantization tables; the closest cell is framed"
        )
        top = QHBoxLayout()
        top.addWidget(QLabel("Qualities"))
        top.addWidget(self.qualities_edit, 1)
        top.addWidget(self.progress)
        top.addWidget(self.estimate, 1)
        self.cells_layout = QGridLayout()
        self.cells_layout.setSpacing(3)
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 4, 4, 4)
        column.addLayout(top)
        column.addLayout(self.cells_layout, 1)
        self.panes: list[ImagePane] = []
        self._build_panes()

    # ---- inputs ------------------------------------------------------------------------------
    def set_document(
        self, doc: Document | None, pixels: np.ndarray | None, settings: ElaSettings
    ) -> None:
        """Remember what to compute; computing starts when the grid is visible."""
        self._doc, self._pixels, self._settings = doc, pixels, settings
        self._update_estimate()
        self.refresh()

    def set_qualities(self, qualities: list[int]) -> None:
        if qualities == self.qualities:
            return
        self.qualities = list(qualities)
        self.qualities_edit.setText(", ".join(map(str, self.qualities)))
        self._build_panes()
        self._inputs = None
        self._update_estimate()
        self.qualitiesChanged.emit(list(self.qualities))
        self.refresh()

    def is_busy(self) -> bool:
        return self._worker is not None and not self._worker.is_done

    def is_complete(self) -> bool:
        return self._inputs is not None and self._inputs == self._key() and not self.is_busy()

    def ordered_cells(self) -> list[GridCell]:
        return [self.cells[q] for q in self.qualities if q in self.cells]

    # ---- computing ---------------------------------------------------------------------------
    def _key(self) -> tuple | None:
        if self._doc is None or self._pixels is None:
            return None
        return (self._doc.id, tuple(self.qualities), self._settings.scale, self._settings.grayscale)

    def refresh(self, force: bool = False) -> None:
        """Start computing if visible and the inputs changed (or ``force``)."""
        key = self._key()
        if key is None:
            self.generation.bump()
            self._clear_cells()
            self._inputs = None
            return
        if key == self._wanted or (key == self._inputs and not force):
            return
        if not self.isVisible():
            # outdated cells: stop and free them now, recompute when the grid is shown
            self.generation.bump()
            if self._worker is not None:
                self._worker.quit()
            self._clear_cells()
            self._inputs = self._wanted = None
            return
        generation = self.generation.bump()
        if self._worker is not None:
            self._worker.quit()
        self._clear_cells()
        self._wanted = key
        self.progress.setRange(0, len(self.qualities))
        self.progress.setValue(0)
        worker = Worker(
            compute_grid, self._pixels, self._doc.orientation, list(self.qualities), self._settings
        )
        worker.yielded.connect(lambda cell, g=generation: self._on_cell(cell, g))
        worker.finished.connect(lambda g=generation, k=key: self._on_done(g, k))
        self._worker = self.pool.start(worker, generation)

    def _on_cell(self, cell: GridCell, generation: int) -> None:
        if not self.generation.accept(generation):
            return
        self.cells[cell.quality] = cell
        index = self.qualities.index(cell.quality)
        pane = self.panes[index]
        size = self._doc.display_size if self._doc else None
        pane.set_image(cell.rendering, size=size)
        shown = "" if cell.downsample == 1 else f"  1:{cell.downsample}"
        marker = MARKER if cell.quality == self.highlight else ""
        # short, and wrapped in narrow cells (1280 x 800, HiDPI): the tooltip has it in words
        pane.header.setText(
            f"q {cell.quality}  x{cell.gain:.1f}  max {cell.max_diff}{shown}{marker}"
        )
        pane.header.setToolTip(
            f"ELA at JPEG quality {cell.quality}: brightness x{cell.gain:.2f}, largest "
            f"difference {cell.max_diff}, {cell.seconds * 1000:.0f} ms"
            + ("" if cell.downsample == 1 else f"; shown reduced 1:{cell.downsample}")
            + ("; closest to the file's own quality" if marker else "")
        )
        self.progress.setValue(len(self.cells))
        self.cellReady.emit(cell)

    def _on_done(self, generation: int, key: tuple) -> None:
        if generation != self.generation.value:
            return
        self._wanted = None
        if len(self.cells) == len(self.qualities):
            self._inputs = key
            self.completed.emit()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.refresh()

    # ---- cells -------------------------------------------------------------------------------
    def _build_panes(self) -> None:
        for pane in self.panes:
            self.cells_layout.removeWidget(pane)
            pane.deleteLater()
        self.panes = []
        self.linker = ViewLinker()
        for index, quality in enumerate(self.qualities):
            pane = ImagePane(f"q {quality}")
            pane.setToolTip(f"ELA at JPEG quality {quality}")
            pane.header.setWordWrap(True)
            pane.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
            self.linker.add(pane)
            if index == 0:
                pane.zoomChanged.connect(self.zoomChanged)
            pane.hovered.connect(self.hovered)
            row, column = divmod(index, COLUMNS)
            self.cells_layout.addWidget(pane, row, column)
            self.cells_layout.setColumnStretch(column, 1)
            self.cells_layout.setRowStretch(row, 1)
            self.panes.append(pane)
        self._wanted = None

    def _clear_cells(self) -> None:
        self.cells.clear()
        for pane, quality in zip(self.panes, self.qualities, strict=True):
            pane.set_image(None)
            marker = MARKER if quality == self.highlight else ""
            waiting = "   computing..." if self._doc is not None else ""
            pane.header.setText(f"q {quality}{waiting}{marker}")
            pane.set_highlight(quality == self.highlight)
        self.progress.setValue(0)

    def _update_estimate(self) -> None:
        doc = self._doc
        estimated = doc.estimated_quality if doc else None
        self.highlight = closest_quality(self.qualities, estimated)
        if doc is None:
            self.estimate.setText("")
        elif doc.facts.jpeg is None:
            self.estimate.setText("Not a JPEG: no quality estimate")
        elif doc.facts.jpeg.quality is None:
            self.estimate.setText("No quantization tables")
        else:
            self.estimate.setText(f"File's quality: {doc.facts.jpeg.quality.describe()}")
        for pane, quality in zip(self.panes, self.qualities, strict=True):
            pane.set_highlight(quality == self.highlight)

    def _on_qualities_edited(self) -> None:
        try:
            qualities = parse_qualities(self.qualities_edit.text())
        except ValueError as exc:
            self.qualities_edit.setToolTip(f"Not applied: {exc}")
            self.qualities_edit.setStyleSheet("border: 1px solid #c0392b;")
            return
        self.qualities_edit.setStyleSheet("")
        self.set_qualities(qualities)

    # ---- zoom (shared by all cells through the links) ------------------------------------------
    def fit(self) -> None:
        if self.panes:
            self.panes[0].fit()

    def zoom(self) -> float:
        return self.panes[0].zoom() if self.panes else 1.0

    def zoom_in(self) -> None:
        if self.panes:
            self.panes[0].zoom_by(2**0.5)

    def zoom_out(self) -> None:
        if self.panes:
            self.panes[0].zoom_by(2**-0.5)

    def actual_size(self) -> None:
        if self.panes:
            self.panes[0].set_zoom(1.0)
