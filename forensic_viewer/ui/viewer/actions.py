"""Menus, keyboard shortcuts and the file dialogs behind them.

Export methods take an optional path so tests and scripts skip the dialog; errors become
non-modal messages naming the file and the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMenu, QMessageBox

from forensic_viewer.core.errors import ForensicError
from forensic_viewer.core.images import IMAGE_SUFFIXES

from ..viewer import export
from ..viewer.document import printable
from ..viewer.tab_views import tab_shortcut

if TYPE_CHECKING:
    from ..viewer.main_window import MainWindow

IMAGE_FILTER = "Images ({});;All files (*)".format(
    " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))
)
SHORTCUTS_HELP = """<table>
<tr><td>Ctrl+O / Ctrl+Shift+O</td><td>Open files / a folder (or drop them on the window)</td></tr>
<tr><td>Up, Down, PgUp, PgDn</td><td>Previous / next image</td></tr>
<tr><td>Ctrl+W, Delete</td><td>Close the image (frees its memory)</td></tr>
<tr><td>Space</td><td>Single view: flip between original and ELA</td></tr>
<tr><td>F6</td><td>Cycle side by side / single / blend</td></tr>
<tr><td>Ctrl+= / Ctrl+-</td><td>Zoom in / out (or the mouse wheel)</td></tr>
<tr><td>Ctrl+0 / Ctrl+1</td><td>Fit / 100% (or double-click the image)</td></tr>
<tr><td>F3 / F4</td><td>ELA view / quality grid</td></tr>
<tr><td>Ctrl+Alt+1, 2, 3...</td><td>The tabs in order (ELA, quality grid, clone, noise...)</td></tr>
<tr><td>Ctrl+E, Ctrl+Shift+E, Ctrl+R</td><td>Export ELA PNG, grid PNG, JSON report</td></tr>
<tr><td>Ctrl+Shift+R</td><td>Export the report with every analysis and its PNG</td></tr>
</table>"""


class WindowActions:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        bar = window.menuBar()
        self.file_menu = bar.addMenu("&File")
        self.view_menu = bar.addMenu("&View")
        self.go_menu = bar.addMenu("&Go")
        self.help_menu = bar.addMenu("&Help")
        w = window
        add = self._add

        self.open = add(
            self.file_menu,
            "&Open...",
            self.open_files,
            QKeySequence.StandardKey.Open,
            "Open image files",
        )
        self.open_folder = add(
            self.file_menu,
            "Open &Folder...",
            self.open_folder_dialog,
            "Ctrl+Shift+O",
            "Open every image in a folder, recursively",
        )
        self.recent_menu = self.file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.file_menu.addSeparator()
        self.export_ela = add(
            self.file_menu,
            "Export &ELA as PNG...",
            lambda: self.export("ela"),
            "Ctrl+E",
            "The ELA rendering at full resolution",
        )
        self.export_grid = add(
            self.file_menu,
            "Export Quality &Grid as PNG...",
            lambda: self.export("grid"),
            "Ctrl+Shift+E",
            "The quality grid, labelled (computed first if needed)",
        )
        self.export_report = add(
            self.file_menu,
            "Export &Report (JSON)...",
            lambda: self.export("report"),
            "Ctrl+R",
            "File facts, SHA-256, ELA settings, verdict and the analyses computed so far",
        )
        self.export_all = add(
            self.file_menu,
            "Export Report with All &Analyses...",
            lambda: w.analyses_export.start(),
            "Ctrl+Shift+R",
            "Into a folder: every analysis's PNG and the JSON report with all their numbers "
            "(the missing ones computed first)",
        )
        self.file_menu.addSeparator()
        self.close_image = add(
            self.file_menu,
            "&Close Image",
            w.close_current,
            QKeySequence.StandardKey.Close,
            "Close the image shown",
        )
        add(self.file_menu, "Close &All Images", w.session.close_all, None, None)
        self.file_menu.addSeparator()
        add(self.file_menu, "&Quit", w.close, QKeySequence.StandardKey.Quit, None)

        self.layout_group = QActionGroup(window)
        self.layout_actions: dict[str, QAction] = {}
        for mode, text in (
            ("side", "&Side by Side"),
            ("single", "Si&ngle View"),
            ("blend", "&Blend ELA over Original"),
        ):
            action = add(self.view_menu, text, lambda m=mode: w.set_layout_mode(m), None, None)
            action.setCheckable(True)
            self.layout_group.addAction(action)
            self.layout_actions[mode] = action
        add(self.view_menu, "Cycle Layout", self.cycle_layout, "F6", None)
        self.flip = add(
            self.view_menu,
            "&Flip Original / ELA",
            w.flip,
            "Space",
            "Single view: show the other image",
        )
        self.view_menu.addSeparator()
        add(
            self.view_menu,
            "Zoom &In",
            lambda: w.zoom_target().zoom_in(),
            [QKeySequence("Ctrl+="), QKeySequence.StandardKey.ZoomIn],
            None,
        )
        add(
            self.view_menu,
            "Zoom &Out",
            lambda: w.zoom_target().zoom_out(),
            [QKeySequence("Ctrl+-"), QKeySequence.StandardKey.ZoomOut],
            None,
        )
        add(self.view_menu, "&Fit", lambda: w.zoom_target().fit(), "Ctrl+0", None)
        add(self.view_menu, "&100%", lambda: w.zoom_target().actual_size(), "Ctrl+1", None)
        self.view_menu.addSeparator()
        add(self.view_menu, "&ELA View", lambda: w.show_tab("ela"), ["F3", "Ctrl+Alt+1"], None)
        add(self.view_menu, "Quality &Grid", lambda: w.show_tab("grid"), ["F4", "Ctrl+Alt+2"], None)
        self.tab_actions: dict[str, QAction] = {}
        for index, (name, tab) in enumerate(w.analysis_tabs.items(), start=2):
            self.tab_actions[name] = add(
                self.view_menu,
                tab.analysis.title,
                lambda n=name: w.show_tab(n),
                tab_shortcut(index),
                w.tabs.tabToolTip(index),
            )
        self.view_menu.addSeparator()
        for dock in w.findChildren(QDockWidget):
            self.view_menu.addAction(dock.toggleViewAction())

        self.next = add(self.go_menu, "&Next Image", lambda: w.step(1), ["PgDown", "Down"], None)
        self.previous = add(
            self.go_menu, "&Previous Image", lambda: w.step(-1), ["PgUp", "Up"], None
        )
        add(self.go_menu, "&First Image", lambda: w.step(-(10**9)), "Home", None)
        add(self.go_menu, "&Last Image", lambda: w.step(10**9), "End", None)

        add(self.help_menu, "&Keyboard Shortcuts", self.show_shortcuts, "F1", None)
        add(self.help_menu, "&About", self.show_about, None, None)

        # Keys that text fields and buttons also use act only where the images are.
        for action in (self.flip, self.next, self.previous, *self.go_menu.actions()):
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            for widget in (w.views, w.grid, w.filmstrip, *w.analysis_tabs.values()):
                widget.addAction(action)

    def _add(self, menu: QMenu, text: str, slot, shortcut, tip: str | None) -> QAction:
        action = QAction(text, self.window)
        if shortcut is not None:
            keys = shortcut if isinstance(shortcut, list) else [shortcut]
            sequences: list[QKeySequence] = []
            for key in keys:
                if isinstance(key, QKeySequence.StandardKey):
                    candidates = QKeySequence.keyBindings(key)
                else:
                    candidates = [QKeySequence(key)]
                sequences += [c for c in candidates if c not in sequences]  # no self-ambiguity
            action.setShortcuts(sequences)
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def insert_menu(self, title: str) -> QMenu:
        menu = QMenu(title, self.window)
        self.window.menuBar().insertMenu(self.help_menu.menuAction(), menu)
        return menu

    def sync_layout(self, mode: str) -> None:
        action = self.layout_actions.get(mode)
        if action is not None and not action.isChecked():
            action.setChecked(True)

    def cycle_layout(self) -> None:
        modes = list(self.layout_actions)
        current = self.window.views.layout_mode
        self.window.set_layout_mode(modes[(modes.index(current) + 1) % len(modes)])

    # ---- opening -----------------------------------------------------------------------------
    def open_files(self) -> None:
        st = self.window.app_settings
        paths, _ = QFileDialog.getOpenFileNames(
            self.window, "Open images", st.last_dir("open"), IMAGE_FILTER
        )
        if paths:
            st.set_last_dir("open", Path(paths[0]).parent)
            self.window.open_paths(paths)

    def open_folder_dialog(self) -> None:
        st = self.window.app_settings
        folder = QFileDialog.getExistingDirectory(self.window, "Open folder", st.last_dir("open"))
        if folder:
            st.set_last_dir("open", folder)
            self.window.open_paths([folder])

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.window.app_settings.recent_files()
        for path in recent:
            action = self.recent_menu.addAction(printable(Path(path).name))
            action.setToolTip(printable(path))
            action.triggered.connect(lambda _c=False, p=path: self.window.open_paths([p]))
        if not recent:
            self.recent_menu.addAction("(none)").setEnabled(False)
        self.recent_menu.addSeparator()
        self.recent_menu.addAction("Clear Recent Files", self.window.app_settings.clear_recent)

    # ---- exporting ---------------------------------------------------------------------------
    def export(self, kind: str, path: str | Path | None = None) -> Path | None:
        """Export ``kind`` ('ela', 'grid', 'report') of the current image; returns the file."""
        w = self.window
        doc, frame = w.session.current, w.session.last_frame
        if doc is None or frame is None or frame.doc_id != doc.id:
            w.show_message("Nothing to export yet: open an image and wait for its ELA")
            return None
        if kind == "grid" and not w.grid.is_complete():
            w.show_tab("grid")
            w.show_message("The quality grid is being computed; export it when all cells show")
            return None
        if path is None:
            st = w.app_settings
            folder = export.suggest_export_dir(st.last_dir("export"), w.session.documents)
            name = export.default_name(doc, kind, frame.settings)
            kinds = {"report": "JSON report (*.json)"}
            chosen, _ = QFileDialog.getSaveFileName(
                w, "Export", str(Path(folder) / name), kinds.get(kind, "PNG image (*.png)")
            )
            if not chosen:
                return None
            path = chosen
        evidence = export.evidence_paths(w.session.documents)
        try:
            if kind == "ela":
                written = export.export_ela_png(path, frame.full_rendering(), evidence)
            elif kind == "grid":
                written = export.export_grid_png(
                    path, w.grid.ordered_cells(), evidence, highlight=w.grid.highlight
                )
            else:
                grid_cells = w.grid.ordered_cells() if w.grid.is_complete() else None
                report = export.build_report(
                    doc, frame.settings, frame.max_diff, frame.gain, frame.seconds, grid_cells,
                    analyses=w.analyses_export.computed_blocks(doc),
                )  # fmt: skip
                written = export.write_report(path, report, evidence)
        except (ForensicError, OSError, ValueError) as exc:
            w.show_message(f"{Path(path).name}: not exported ({exc})")
            return None
        w.app_settings.set_last_dir("export", written.parent)
        w.statusBar().showMessage(f"Exported {written}", 8000)
        return written

    # ---- help --------------------------------------------------------------------------------
    def show_shortcuts(self) -> None:
        box = QMessageBox(
            QMessageBox.Icon.NoIcon, "Keyboard shortcuts", SHORTCUTS_HELP, parent=self.window
        )
        box.setModal(False)
        box.show()

    def show_about(self) -> None:
        from forensic_viewer import __version__

        box = QMessageBox(
            QMessageBox.Icon.Information,
            "About Forensic Viewer",
            f"Forensic Viewer {__version__}<br>Offline Error Level Analysis and a CNN verdict. "
            "Results are evidence to weigh, not proof.",
            parent=self.window,
        )
        box.setModal(False)
        box.show()


def build_actions(window: MainWindow) -> WindowActions:
    return WindowActions(window)
