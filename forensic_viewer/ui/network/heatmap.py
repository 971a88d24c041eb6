"""The network panel: heatmap toggle and opacity with a colour legend, triage sort, progress.

The heatmap is the per-tile P(tampered) of the active model (``Predictor.heatmap``), coloured
with the 'inferno' map and drawn over the original view. Its alpha rises with P, so tiles the
network finds unremarkable only tint the photo while suspicious ones stand out; the slider scales
the whole layer. It is as coarse as the tiles (128 px, every 64 px): it points at regions, not
at pixels.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from .._pyqtgraph import pg
from ..network.verdict_jobs import HeatOverlay, colour_heatmap
from ..viewer.document import percent

COLOUR_MAP = "inferno"
HEAT_Z = 2
"""Above the image (0) and the ELA blend overlay (1)."""


def heat_lut() -> np.ndarray:
    """256 x 3 uint8 colours from P = 0 to P = 1."""
    return pg.colormap.get(COLOUR_MAP).getLookupTable(0.0, 1.0, 256, alpha=False)


class HeatLayer:
    """The heatmap image item on a pane's view box (shares its zoom and pan)."""

    def __init__(self, pane) -> None:
        self.item = pg.ImageItem(axisOrder="row-major")
        self.item.setZValue(HEAT_Z)
        self.item.setVisible(False)
        pane.viewbox.addItem(self.item)
        self.overlay: HeatOverlay | None = None
        self.opacity = 0.6

    def set_overlay(self, overlay: HeatOverlay | None) -> None:
        self.overlay = overlay
        if overlay is None:
            self.item.clear()
            self.item.setVisible(False)
            return
        self.item.setImage(overlay.rgba, autoLevels=False, levels=None)
        self.item.setRect(QRectF(0, 0, overlay.size[0], overlay.size[1]))
        self.item.setOpacity(self.opacity)
        self.item.setVisible(True)

    def set_opacity(self, opacity: float) -> None:
        self.opacity = min(max(float(opacity), 0.0), 1.0)
        self.item.setOpacity(self.opacity)

    def image(self) -> np.ndarray | None:
        return None if self.overlay is None else self.overlay.rgba


class HeatLegend(QWidget):
    """A colour bar from 0% to 100% P(tampered) with the model's threshold marked."""

    def __init__(self, lut: np.ndarray, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        ramp = np.linspace(0.0, 1.0, 256, dtype=np.float32)[None, :].repeat(2, axis=0)
        rgba = np.ascontiguousarray(colour_heatmap(ramp, lut))
        rgba[..., 3] = 255  # the bar shows the colours; the overlay's alpha is explained below
        self._bar = QImage(rgba.data, 256, 2, 256 * 4, QImage.Format.Format_RGBA8888).copy()
        self.threshold: float | None = None
        self.setMinimumHeight(34)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip(
            "Heatmap colours: P(tampered) of each tile, dark = low, bright = high.\n"
            "The marker is the model's threshold for 'Tampered'."
        )

    def set_threshold(self, threshold: float | None) -> None:
        self.threshold = threshold
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        margin = 8
        width = max(10, self.width() - 2 * margin)
        bar = QRectF(margin, 2, width, 12)
        painter.drawImage(bar, self._bar)
        painter.setPen(QPen(QColor("#888888")))
        painter.drawRect(bar)
        painter.setPen(QPen(self.palette().windowText().color()))
        font = painter.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        painter.setFont(font)
        for value, text in ((0.0, "0%"), (0.5, "50%"), (1.0, "100%")):
            x = margin + value * width
            align = (
                Qt.AlignmentFlag.AlignLeft
                if value == 0
                else Qt.AlignmentFlag.AlignRight
                if value == 1
                else Qt.AlignmentFlag.AlignHCenter
            )
            left = x if value == 0 else x - 40 if value == 1 else x - 20
            painter.drawText(QRectF(left, 15, 40, 16), int(align), text)
        if self.threshold is not None:
            x = margin + self.threshold * width
            painter.setPen(QPen(QColor("#00e5ff"), 2))
            painter.drawLine(int(x), 0, int(x), 16)
        painter.end()


class NetworkPanel(QGroupBox):
    heatmapToggled = Signal(bool)
    opacityChanged = Signal(float)
    sortToggled = Signal(bool)

    def __init__(self, lut: np.ndarray, parent: QWidget | None = None) -> None:
        super().__init__("Network", parent)
        self.model_label = QLabel("No model")
        self.model_label.setWordWrap(True)
        self.model_label.setTextFormat(Qt.TextFormat.PlainText)
        self.heatmap = QCheckBox("Heatmap over the original (H)")
        self.heatmap.setToolTip(
            "Draw the network's P(tampered) per 128 px tile over the original view.\n"
            "It shows which parts look re-compressed, not the outline of a pasted object\n"
            "(the default model's tiles are all high on a flagged image): read the ELA and\n"
            "the quality grid to localise an edit. Details: Model > Show Model Card."
        )
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setToolTip("Opacity of the heatmap over the original")
        self.legend = HeatLegend(lut)
        self.heat_info = QLabel("")
        self.heat_info.setWordWrap(True)
        self.sort = QCheckBox("Sort images by P(tampered)")
        self.sort.setToolTip(
            "Batch triage: most suspicious images first in the image list (as verdicts arrive)"
        )
        self.progress = QLabel("")
        opacity_row = QHBoxLayout()
        opacity_row.addWidget(QLabel("Opacity"))
        opacity_row.addWidget(self.opacity, 1)
        column = QVBoxLayout(self)
        for widget in (self.model_label, self.heatmap):
            column.addWidget(widget)
        column.addLayout(opacity_row)
        for widget in (self.legend, self.heat_info, self.sort, self.progress):
            column.addWidget(widget)
        self.heatmap.toggled.connect(self._on_heatmap)
        self.opacity.valueChanged.connect(lambda v: self.opacityChanged.emit(v / 100.0))
        self.sort.toggled.connect(self.sortToggled)
        self._on_heatmap(False)

    def set_heatmap(self, on: bool) -> None:
        self.heatmap.blockSignals(True)
        self.heatmap.setChecked(on)
        self.heatmap.blockSignals(False)
        self._sync_enabled(on)

    def set_opacity(self, opacity: float) -> None:
        self.opacity.blockSignals(True)
        self.opacity.setValue(round(opacity * 100))
        self.opacity.blockSignals(False)

    def set_sort(self, on: bool) -> None:
        self.sort.blockSignals(True)
        self.sort.setChecked(on)
        self.sort.blockSignals(False)

    def _on_heatmap(self, on: bool) -> None:
        self._sync_enabled(on)
        self.heatmapToggled.emit(on)

    def _sync_enabled(self, on: bool) -> None:
        self.opacity.setEnabled(on)
        self.legend.setVisible(on)
        self.heat_info.setVisible(on)

    def describe_overlay(self, overlay: HeatOverlay | None, waiting: bool = False) -> None:
        if overlay is None:
            self.heat_info.setText("computing..." if waiting else "")
            return
        low, high = percent(overlay.p_min), percent(overlay.p_max)
        spread = f"{low} on every tile" if low == high else f"{low} to {high}"
        if overlay.tile == overlay.stride:  # a block map (the localiser): cells do not overlap
            side = overlay.tile
            cells = f"{overlay.tiles:,} blocks of {side} x {side} px, one value each"
        else:
            cells = f"{overlay.tiles} tiles of {overlay.tile} px every {overlay.stride} px"
        self.heat_info.setText(f"{cells}; P(tampered) {spread}")
