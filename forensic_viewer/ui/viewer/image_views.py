"""Pixel-exact image panes (pyqtgraph) and the original/ELA pair with linked zoom and pan.

Images are row-major uint8 arrays, shown without smoothing (nearest neighbour at any zoom), with
a locked aspect ratio and y pointing down. Contiguous uint8 RGB arrays are wrapped in a QImage
without a copy, so showing the ELA in two items costs no extra memory.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QSplitter, QVBoxLayout, QWidget

from .._pyqtgraph import pg

BACKGROUND = "#1e1e1e"
ZOOM_STEP = 2**0.5
LAYOUTS = ("side", "single", "blend")
HIGHLIGHT_STYLE = (
    "#ImagePane { border: 3px solid #ffaa00; }"
    "#PaneHeader { background: #5a4300; color: #ffd27a; font-weight: bold; }"
)


class ImagePane(QFrame):
    """A header line over a ViewBox holding an image and an optional overlay image."""

    hovered = Signal(float, float)
    """Image coordinates (x = column, y = row) under the mouse; NaN when outside the view."""
    doubleClicked = Signal(float, float)
    zoomChanged = Signal(float)

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ImagePane")
        self.header = QLabel(title)
        self.header.setObjectName("PaneHeader")
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # a long header must not widen its pane (grid cells stay equal)
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.view = pg.GraphicsView(background=BACKGROUND)
        self.view.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.viewbox = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view.setCentralItem(self.viewbox)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.overlay = pg.ImageItem(axisOrder="row-major")
        self.overlay.setZValue(1)
        self.overlay.setVisible(False)
        self.viewbox.addItem(self.image)
        self.viewbox.addItem(self.overlay)
        self.image_size: tuple[int, int] | None = None  # (width, height) in image coordinates
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.header)
        layout.addWidget(self.view, 1)
        self.view.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.view.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self.viewbox.sigRangeChanged.connect(lambda *_: self.zoomChanged.emit(self.zoom()))

    # ---- content -----------------------------------------------------------------------------
    def set_image(
        self, array: np.ndarray | None, size: tuple[int, int] | None = None, overlay: bool = False
    ) -> None:
        """Show ``array``; ``size`` = (width, height) it covers, if it is a reduced copy."""
        item = self.overlay if overlay else self.image
        if array is None:
            item.clear()
            # clear() keeps the last QImage, which wraps (and so keeps alive) the old array
            item.qimage = None
            item._processingBuffer = item._displayBuffer = None
            if not overlay:
                self.image_size = None
            return
        height, width = array.shape[:2]
        full = size or (width, height)
        item.setImage(array, autoLevels=False, levels=None)
        item.setRect(QRectF(0, 0, full[0], full[1]))
        if not overlay:
            first = self.image_size != full
            self.image_size = full
            if first:
                self.fit()

    def set_overlay_opacity(self, opacity: float | None) -> None:
        """None hides the overlay; otherwise shows it at ``opacity`` (0..1)."""
        self.overlay.setVisible(opacity is not None)
        if opacity is not None:
            self.overlay.setOpacity(float(opacity))

    def set_highlight(self, on: bool) -> None:
        # a local style sheet: property selectors need re-polishing and PySide6 mishandles bool
        # properties at exit, so the frame and header are styled directly instead
        self.setStyleSheet(HIGHLIGHT_STYLE if on else "")

    # ---- zoom --------------------------------------------------------------------------------
    def zoom(self) -> float:
        """Screen pixels per image pixel (1.0 = 100%)."""
        size = self.viewbox.viewPixelSize()[0]
        return 1.0 / size if size > 0 else 1.0

    def fit(self) -> None:
        if self.image_size is not None:
            self.viewbox.setRange(QRectF(0, 0, *self.image_size), padding=0)

    def fit_zoom(self) -> float:
        if self.image_size is None:
            return 1.0
        width, height = self._drawable_size()
        return min(width / self.image_size[0], height / self.image_size[1])

    def _drawable_size(self) -> tuple[float, float]:
        """The view's size in screen pixels as pyqtgraph maps it (not quite boundingRect)."""
        px, py = self.viewbox.viewPixelSize()
        view = self.viewbox.viewRect()
        if px <= 0 or py <= 0:
            rect = self.viewbox.boundingRect()
            return rect.width(), rect.height()
        return view.width() / px, view.height() / py

    def set_zoom(self, zoom: float, center: QPointF | None = None) -> None:
        rect = self.viewbox.boundingRect()
        if rect.width() <= 0 or zoom <= 0:
            return
        if center is None:
            center = self.viewbox.viewRect().center()
        w, h = rect.width() / zoom, rect.height() / zoom
        for _ in range(2):
            self.viewbox.setRange(
                QRectF(center.x() - w / 2, center.y() - h / 2, w, h), padding=0, update=True
            )
            # the ViewBox's drawable size differs from its bounding rect by a fraction of a
            # pixel; one proportional correction makes 100% exactly one screen pixel per pixel
            error = self.zoom() / zoom
            if abs(error - 1.0) < 1e-9:
                break
            w, h = w * error, h * error

    def zoom_by(self, factor: float) -> None:
        self.set_zoom(self.zoom() * factor)

    # ---- mouse -------------------------------------------------------------------------------
    def _on_mouse_moved(self, scene_pos) -> None:
        if not self.viewbox.sceneBoundingRect().contains(scene_pos):
            self.hovered.emit(float("nan"), float("nan"))
            return
        point = self.viewbox.mapSceneToView(scene_pos)
        self.hovered.emit(point.x(), point.y())

    def _on_mouse_clicked(self, event) -> None:
        if event.double() and event.button() == Qt.MouseButton.LeftButton:
            point = self.viewbox.mapSceneToView(event.scenePos())
            self.doubleClicked.emit(point.x(), point.y())
            event.accept()


class ViewLinker:
    """Keep panes at the same zoom and centre: pan or zoom one, the others follow.

    pyqtgraph's ``setXLink``/``setYLink`` copy the visible *range*; panes that differ by a pixel
    in size (splitter, grid cells) then show slightly different scales, and 100% is no longer
    one screen pixel per image pixel everywhere. Copying scale and centre keeps them exact.
    """

    def __init__(self, panes: list[ImagePane] | None = None) -> None:
        self.panes: list[ImagePane] = []
        self._syncing = False
        for pane in panes or []:
            self.add(pane)

    def add(self, pane: ImagePane) -> None:
        self.panes.append(pane)
        pane.viewbox.sigRangeChanged.connect(lambda *_a, p=pane: self._follow(p))

    def remove_all(self) -> None:
        self.panes = []

    def sync_from(self, source: ImagePane) -> None:
        """Bring the others to ``source``'s zoom and centre (e.g. when one becomes visible)."""
        self._follow(source)

    def _follow(self, source: ImagePane) -> None:
        if self._syncing or source not in self.panes or not source.isVisible():
            return
        self._syncing = True
        try:
            zoom, centre = source.zoom(), source.viewbox.viewRect().center()
            for pane in self.panes:
                if pane is not source and pane.isVisible():
                    pane.set_zoom(zoom, centre)
        finally:
            self._syncing = False


class PairedViews(QWidget):
    """Original and ELA side by side, or one view (SPACE flips), or ELA blended over the original.

    Both views are linked (ViewLinker), so zoom and pan move together at the same scale.
    """

    hovered = Signal(float, float)
    zoomChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.original = ImagePane("Original")
        self.ela = ImagePane("ELA")
        self.linker = ViewLinker([self.original, self.ela])
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.original)
        self.splitter.addWidget(self.ela)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self.layout_mode = "side"
        self.flipped = False
        self.opacity = 0.5
        self._ela_array: np.ndarray | None = None
        self._ela_size: tuple[int, int] | None = None
        self._overlay_dirty = False
        self._ela_title = "ELA"
        self.badge: QWidget | None = None
        for pane in (self.original, self.ela):
            pane.hovered.connect(self.hovered)
            pane.doubleClicked.connect(self._toggle_fit_actual)
        self.original.zoomChanged.connect(self.zoomChanged)

    # ---- content -----------------------------------------------------------------------------
    def set_original(self, array: np.ndarray | None, size: tuple[int, int] | None = None) -> None:
        """``size`` = (width, height) of the full image when ``array`` is a reduced copy."""
        self.original.set_image(array, size=size)
        if array is None:
            self.set_ela(None)

    def set_ela(self, array: np.ndarray | None, title: str = "ELA") -> None:
        self._ela_array = array
        self._ela_title = title
        if array is None:
            self.ela.header.setText(title)  # not a stale "computing" or the last image's numbers
        self._ela_size = self.original.image_size
        self.ela.set_image(array, size=self._ela_size)
        if array is not None and self.original.image_size is None:
            self.original.image_size = self.ela.image_size
        self._overlay_dirty = True
        self._apply_layout()

    def ela_array(self) -> np.ndarray | None:
        return self._ela_array

    # ---- layout ------------------------------------------------------------------------------
    def set_layout_mode(self, mode: str) -> None:
        if mode not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {mode!r}")
        self.layout_mode = mode
        self._apply_layout()

    def set_opacity(self, opacity: float) -> None:
        self.opacity = min(max(float(opacity), 0.0), 1.0)
        self._apply_layout()

    def flip(self) -> None:
        """SPACE: in the single view, switch between the original and the ELA."""
        if self.layout_mode != "single":
            self.set_layout_mode("single")
            self.flipped = True
        else:
            self.flipped = not self.flipped
        self._apply_layout()

    def showing_ela_in_single_view(self) -> bool:
        return self.layout_mode == "single" and self.flipped

    def _apply_layout(self) -> None:
        side = self.layout_mode == "side"
        if side and not self.ela.isVisible() and self.original.image_size is not None:
            # it missed the zooms and pans made while hidden: catch up once it has a size
            QTimer.singleShot(0, lambda: self.linker.sync_from(self.original))
        self.ela.setVisible(side)
        overlay_opacity: float | None = None
        if self.layout_mode == "blend":
            overlay_opacity = self.opacity
        elif self.layout_mode == "single" and self.flipped:
            overlay_opacity = 1.0
        if overlay_opacity is not None and self._overlay_dirty:
            # the overlay shares the ELA array; only wrap it when it is actually shown
            self.original.set_image(self._ela_array, size=self._ela_size, overlay=True)
            self._overlay_dirty = False
        self.original.set_overlay_opacity(overlay_opacity if self._ela_array is not None else None)
        if side:
            self.original.header.setText("Original")
        elif self.layout_mode == "blend":
            self.original.header.setText(
                f"Blend {self.opacity:.0%}:  {self._ela_title}  over the original"
            )
        else:
            title = self._ela_title if self.flipped else "Original"
            self.original.header.setText(f"{title}   (Space: flip)")
        self._place_badge()

    # ---- verdict badge -----------------------------------------------------------------------
    def attach_badge(self, badge: QWidget) -> None:
        """Float ``badge`` over the top-right corner of whichever view shows the ELA."""
        self.badge = badge
        self._place_badge()

    def ela_view(self) -> pg.GraphicsView:
        return self.ela.view if self.layout_mode == "side" else self.original.view

    def _place_badge(self) -> None:
        if self.badge is None:
            return
        target = self.ela_view()
        if self.badge.parent() is not target:
            visible = getattr(self.badge, "state", "clear") != "clear"
            self.badge.setParent(target)
            self.badge.setVisible(visible)
        if hasattr(self.badge, "reposition"):
            self.badge.reposition()

    # ---- zoom --------------------------------------------------------------------------------
    def zoom(self) -> float:
        return self.original.zoom() if self.original.isVisible() else self.ela.zoom()

    def _active_pane(self) -> ImagePane:
        return self.original if self.original.isVisible() else self.ela

    def fit(self) -> None:
        self._active_pane().fit()

    def actual_size(self) -> None:
        self._active_pane().set_zoom(1.0)

    def zoom_in(self) -> None:
        self._active_pane().zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        self._active_pane().zoom_by(1 / ZOOM_STEP)

    def _toggle_fit_actual(self, x: float, y: float) -> None:
        pane = self._active_pane()
        if abs(pane.zoom() - pane.fit_zoom()) < 1e-3 * max(pane.fit_zoom(), 1e-9):
            pane.set_zoom(1.0, QPointF(x, y))
        else:
            pane.fit()
