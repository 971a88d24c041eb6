"""The main window: filmstrip, original/ELA views or quality grid, controls, facts, status bar.

Thin: the :class:`Session` owns documents and background work; this class wires widgets to it.
Menus and shortcuts are built in ``actions.py``; exports in ``export.py``; the network's badge,
heatmap and Model menu are wired in ``network_view.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from forensic_viewer.core.images import LoadedImage

from ..analyses.grid import QualityGrid
from ..messages import MessageBar
from ..network.heatmap import HeatLayer, NetworkPanel, heat_lut
from ..network.model_menu import ModelMenu
from ..network.network_view import NetworkMixin
from ..network.verdict_badge import VerdictBadge
from ..network.verdicts import VerdictController
from ..settings import AppSettings
from ..viewer.actions import build_actions
from ..viewer.controls import ElaControls
from ..viewer.display import display_factor, release_memory
from ..viewer.document import Document, ElaSettings, PixelCache, printable
from ..viewer.export_analyses import AnalysesExport
from ..viewer.filmstrip import Filmstrip
from ..viewer.image_views import PairedViews
from ..viewer.info_panel import InfoPanel
from ..viewer.session import ElaFrame, Session
from ..viewer.tab_views import TabViewsMixin
from ..viewer.welcome import WelcomePane, local_path

APP_TITLE = "Forensic Viewer"
STYLE = """
#PaneHeader { background: #2b2b2b; color: #dddddd; padding: 3px 6px; }
"""


class MainWindow(TabViewsMixin, NetworkMixin, QMainWindow):
    elaShown = Signal(object)
    """Emitted right after a new ELA frame has been set on the views (bench and tests)."""

    def __init__(self, cache: PixelCache | None = None) -> None:
        super().__init__()
        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self.setStyleSheet(STYLE)
        self.app_settings = AppSettings()
        self.session = Session(cache=cache, settings=self.app_settings.ela_settings(), parent=self)
        lut = heat_lut()
        self.verdicts = VerdictController(self.session, lut, parent=self)

        self.views = PairedViews()
        self.badge = VerdictBadge()
        self.views.attach_badge(self.badge)
        self.heat_layer = HeatLayer(self.views.original)
        self.grid = QualityGrid(self.session.pool)
        self.grid.set_qualities(self.app_settings.grid_qualities())
        self.tabs = QTabWidget()
        self.tabs.addTab(self.views, "ELA")
        self.tabs.addTab(self.grid, "Quality grid")
        self.tabs.setTabToolTip(0, "Original beside its Error Level Analysis (F3)")
        self.tabs.setTabToolTip(1, "ELA at several JPEG qualities, linked zoom (F4)")
        self._build_analysis_tabs()
        self.messages = MessageBar()
        self.welcome = WelcomePane()
        # the empty window shows the drop target; the first image brings the views
        self.centre = QStackedWidget()
        self.centre.addWidget(self.welcome)
        self.centre.addWidget(self.tabs)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.messages)
        column.addWidget(self.centre, 1)
        self.setCentralWidget(central)

        self.filmstrip = Filmstrip()
        self.controls = ElaControls()
        self.network = NetworkPanel(lut)
        self.info = InfoPanel()
        self._add_dock("Images", "images", self.filmstrip, Qt.DockWidgetArea.LeftDockWidgetArea)
        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(self.controls)
        side.addWidget(self.network)
        side.addWidget(self.info)
        side.setStretchFactor(2, 1)
        # scrolls on small screens instead of forcing a tall minimum window height
        side_scroll = QScrollArea()
        side_scroll.setWidget(side)
        side_scroll.setWidgetResizable(True)
        side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._add_dock("Analysis", "analysis", side_scroll, Qt.DockWidgetArea.RightDockWidgetArea)
        self._no_drops(self.views.original, self.views.ela, self.info, self.filmstrip, self.welcome)

        self.status_position = QLabel()
        self.status_zoom = QLabel()
        self.status_size = QLabel()
        self.status_time = QLabel()
        for label, tip in (
            (self.status_position, "Pixel under the mouse: original RGB and raw ELA difference"),
            (self.status_zoom, "Zoom (100% = one image pixel per screen pixel)"),
            (self.status_size, "Image size as displayed"),
            (self.status_time, "Time to compute the ELA shown"),
        ):
            label.setToolTip(tip)
            self.statusBar().addPermanentWidget(label)

        self.analyses_export = AnalysesExport(self)
        self.actions = build_actions(self)
        self.welcome.openFilesRequested.connect(self.actions.open_files)
        self.welcome.openFolderRequested.connect(self.actions.open_folder_dialog)
        self.model_menu = ModelMenu(self)
        self._build_network_timers()
        self._connect()
        self._restore()

    # ---- construction helpers ----------------------------------------------------------------
    def _add_dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{name}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    @staticmethod
    def _no_drops(*widgets: QWidget) -> None:
        """Let drops reach the window instead of being swallowed by a child that ignores them."""
        for widget in widgets:
            for child in [widget, *widget.findChildren(QWidget)]:
                child.setAcceptDrops(False)

    def _connect(self) -> None:
        s = self.session
        s.documentAdded.connect(self._on_document_added)
        s.documentRemoved.connect(self.filmstrip.remove_document)
        s.documentRemoved.connect(self.verdicts.forget)
        s.documentChanged.connect(self._on_document_changed)
        s.currentChanged.connect(self._on_current_changed)
        s.elaReady.connect(self._on_ela_ready)
        s.elaFailed.connect(lambda text: self.views.ela.header.setText(f"ELA failed: {text}"))
        s.message.connect(self.show_message)
        s.loadFinished.connect(self._on_load_finished)
        self.filmstrip.documentActivated.connect(self._activate_id)
        self.filmstrip.closeRequested.connect(self._close_id)
        self.filmstrip.closeAllRequested.connect(s.close_all)
        self.controls.settingsChanged.connect(self._on_settings_changed)
        self.controls.set_busy_probe(s.is_computing)
        self.controls.layoutChanged.connect(self.set_layout_mode)
        self.controls.opacityChanged.connect(self._on_opacity)
        self.views.hovered.connect(self._on_hover)
        # over a grid cell, the ELA tab's difference (another quality) would mislead: omit it
        self.grid.hovered.connect(lambda x, y: self._on_hover(x, y, with_ela=False))
        self.views.zoomChanged.connect(lambda z: self._on_zoom(z, "ela"))
        self.grid.zoomChanged.connect(lambda z: self._on_zoom(z, "grid"))
        self.grid.qualitiesChanged.connect(self.app_settings.set_grid_qualities)
        for name, tab in self.analysis_tabs.items():
            tab.hovered.connect(lambda x, y, t=tab: self._on_hover(x, y, False, t.value_at(x, y)))
            tab.zoomChanged.connect(lambda z, n=name: self._on_zoom(z, n))
        self.tabs.currentChanged.connect(self._on_tab)
        self._connect_network()

    def _restore(self) -> None:
        st = self.app_settings
        self.controls.set_settings(self.session.settings)
        mode = st.layout_mode()
        self.controls.set_layout_mode(mode)
        self.views.set_layout_mode(mode)
        self.controls.set_opacity(st.opacity())
        self.views.set_opacity(st.opacity())
        geometry, state = st.window_geometry(), st.window_state()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1500, 900)
        if state is not None:
            self.restoreState(state)
        self.show_tab(st.view_tab())
        self._restore_network()
        self._update_status()

    # ---- opening -----------------------------------------------------------------------------
    def open_paths(self, paths: list[str | Path]) -> None:
        self.session.open_paths([Path(p) for p in paths])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()
            self.welcome.set_hover(True)
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.dragEnterEvent(event)

    def dragLeaveEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.welcome.set_hover(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        self.welcome.set_hover(False)
        paths = [local_path(url) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def show_message(self, text: str) -> None:
        """Non-modal: the message bar lists it (with earlier ones), the status bar flashes it."""
        self.messages.add(text)
        self.statusBar().showMessage(printable(text), 8000)

    def _on_document_added(self, doc: Document) -> None:
        self.filmstrip.add_document(doc)
        self.app_settings.add_recent(doc.path)
        if self.session.current is doc:
            self.filmstrip.select_document(doc.id)

    def _on_document_changed(self, doc: Document) -> None:
        self.filmstrip.update_document(doc)
        if doc is self.session.current:
            self.info.show_document(doc)

    def _on_load_finished(self, opened: int, failed: int) -> None:
        if failed:
            self.statusBar().showMessage(
                f"Opened {opened} image(s); {failed} could not be opened (see the message bar)",
                10000,
            )

    def _activate_id(self, doc_id: int) -> None:
        doc = self.document(doc_id)
        if doc is not None:
            self.session.set_current(doc)

    def _close_id(self, doc_id: int) -> None:
        doc = self.document(doc_id)
        if doc is not None:
            self.session.close_document(doc)

    def document(self, doc_id: int) -> Document | None:
        return next((d for d in self.session.documents if d.id == doc_id), None)

    def close_current(self) -> None:
        if self.session.current is not None:
            self.session.close_document(self.session.current)

    def step(self, offset: int) -> None:
        """Next/previous image in the filmstrip's order (which may be sorted by verdict)."""
        ids = self.filmstrip.doc_ids()
        if not ids:
            return
        current = self.session.current
        index = ids.index(current.id) if current is not None and current.id in ids else 0
        self._activate_id(ids[min(max(index + offset, 0), len(ids) - 1)])

    # ---- showing -----------------------------------------------------------------------------
    def _on_current_changed(self, doc: Document | None) -> None:
        self.centre.setCurrentWidget(self.welcome if doc is None else self.tabs)
        self.filmstrip.select_document(None if doc is None else doc.id)
        self.info.show_document(doc)
        self._show_network_for(doc)
        self.setWindowTitle(APP_TITLE if doc is None else f"{doc.name} - {APP_TITLE}")
        if doc is None:
            self.views.set_original(None)
            self.grid.set_document(None, None, self.session.settings)
            for tab in self.analysis_tabs.values():
                tab.set_document(None, None)
            # after Close All: the network forgets the last image, and the freed pages go back
            if self.verdicts.predictor is not None:
                self.verdicts.predictor.clear_cache()
            QTimer.singleShot(0, release_memory)
        else:
            pixels = self.session.pixels(doc)
            small = display_factor(doc.facts.width, doc.facts.height) == 1
            if pixels is not None and doc.orientation == 1 and small:
                self.views.set_original(pixels)  # the frame will carry the same array
            self.views.ela.header.setText(f"ELA   computing ({self.session.settings.describe()})")
        self._update_status()

    def _on_ela_ready(self, frame: ElaFrame) -> None:
        doc = self.session.current
        if self.views.original.image.image is not frame.display_original:
            height, width = frame.original.shape[:2]
            self.views.set_original(frame.display_original, size=(width, height))
        s = frame.settings
        brightness = s.header_brightness(frame.gain)
        title = f"ELA   q {s.quality}   {brightness}   max diff {frame.max_diff}"
        self.views.set_ela(frame.rendering, title)
        self.views.ela.header.setText(title)
        self.elaShown.emit(frame)
        if doc is not None:
            pixels = self.session.pixels(doc)
            self.grid.set_document(doc, pixels, s)
            if pixels is not None:
                image = LoadedImage(pixels=pixels, facts=doc.facts)
                for tab in self.analysis_tabs.values():
                    tab.set_document(doc.id, image)
        self._update_status()

    def _on_settings_changed(self, settings: ElaSettings) -> None:
        self.app_settings.set_ela_settings(settings)
        self.session.set_settings(settings)

    def set_layout_mode(self, mode: str) -> None:
        self.views.set_layout_mode(mode)
        self.controls.set_layout_mode(mode)
        self.app_settings.set_layout_mode(mode)
        self.actions.sync_layout(mode)

    def flip(self) -> None:
        self.views.flip()
        self.controls.set_layout_mode(self.views.layout_mode)
        self.app_settings.set_layout_mode(self.views.layout_mode)

    def _on_opacity(self, opacity: float) -> None:
        self.views.set_opacity(opacity)
        self.app_settings.set_opacity(opacity)

    # ---- zoom and status ---------------------------------------------------------------------
    def _on_zoom(self, zoom: float, tab: str | None = None) -> None:
        if self.session.current is None:
            # an empty view still reports a range (e.g. after Close All): no zoom to show
            self.status_zoom.setText("")
            return
        if tab is None or tab == self.current_tab():
            self.status_zoom.setText(f"Zoom {zoom * 100:.0f}%")

    def _on_hover(
        self, x: float, y: float, with_ela: bool = True, extra: str | None = None
    ) -> None:
        frame = self.session.last_frame
        if frame is None or math.isnan(x):
            self.status_position.setText("")
            return
        col, row = math.floor(x), math.floor(y)
        height, width = frame.original.shape[:2]
        if not (0 <= col < width and 0 <= row < height):
            self.status_position.setText("")
            return
        r, g, b = (int(v) for v in frame.original[row, col])
        text = f"x {col}  y {row}   RGB {r} {g} {b}"
        if with_ela:
            dr, dg, db = (int(v) for v in frame.diff[row, col])
            text += f"   ELA q{frame.settings.quality} diff {dr} {dg} {db}"
        if extra:
            text += f"   {extra}"
        self.status_position.setText(text)

    def _update_status(self) -> None:
        doc = self.session.current
        frame = self.session.last_frame
        if doc is None:
            for label in (self.status_position, self.status_size, self.status_time):
                label.setText("")
            self.status_zoom.setText("")
            return
        w, h = doc.display_size
        self.status_size.setText(f"{w} x {h} px")
        if frame is not None and frame.doc_id == doc.id:
            kind = "ELA" if frame.recomputed else "ELA re-render"
            self.status_time.setText(f"{kind} {frame.seconds * 1000:.0f} ms")
        else:
            self.status_time.setText("ELA ...")
        self._on_zoom(self.zoom_target().zoom())

    # ---- background state (screenshot mode, tests) -------------------------------------------
    def is_idle(self) -> bool:
        """True when nothing is loading or computing and the shown image has its ELA."""
        if not self.session.is_idle() or self.controls.is_settling():
            return False
        if not self.verdicts.is_idle():
            return False
        if self.session.current is not None and self.session.last_frame is None:
            return False
        tab = self.analysis_tab()
        if tab is not None and self.session.current is not None and not tab.is_complete():
            return False
        return not (
            self.current_tab() == "grid"
            and self.session.current is not None
            and not self.grid.is_complete()
        )

    # ---- menus from other modules ------------------------------------------------------------
    def insert_menu(self, title: str):
        """Add a top-level menu before Help (e.g. the Model menu)."""
        return self.actions.insert_menu(title)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.save_settings()
        self.verdicts.shutdown()
        self.session.shutdown()
        super().closeEvent(event)

    def save_settings(self) -> None:
        st = self.app_settings
        st.set_ela_settings(self.session.settings)
        st.set_layout_mode(self.views.layout_mode)
        st.set_opacity(self.views.opacity)
        st.set_view_tab(self.current_tab())
        st.set_grid_qualities(self.grid.qualities)
        st.set_window(self.saveGeometry(), self.saveState())
        st.sync()
