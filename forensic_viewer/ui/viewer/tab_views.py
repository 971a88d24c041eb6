"""The window's tabs: ELA and the quality grid (specialised views), then one generic tab per other
registered analysis, built from the registry, so adding an analysis needs no edit here.

Switching tabs carries the zoom and centre over, so a region stays in view from tab to tab.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer

from forensic_viewer.core.analyses import REGISTRY

from ..analyses.analysis_tab import AnalysisTab

BUILT_IN_TABS = ("ela", "grid")
"""Registry analyses with their own specialised views (the first two tabs)."""


def tab_shortcut(index: int) -> str | None:
    """Ctrl+Alt+1.. for the tabs in order (F3 / F4 also show the first two)."""
    return f"Ctrl+Alt+{index + 1}" if index < 9 else None


def tab_tooltip(help_text: str, index: int) -> str:
    """The first sentence of an analysis's help, with its shortcut."""
    sentence = help_text.split(". ")[0].rstrip(".") + "."
    shortcut = tab_shortcut(index)
    return f"{sentence} ({shortcut})" if shortcut else sentence


class TabViewsMixin:
    """Mixed into MainWindow (uses its tabs, views, grid, session and app_settings)."""

    def _build_analysis_tabs(self) -> None:
        self.analysis_tabs: dict[str, AnalysisTab] = {}
        for name, analysis in REGISTRY.items():
            if name in BUILT_IN_TABS:
                continue
            tab = AnalysisTab(analysis, self.session.pool, self.app_settings.store)
            self.analysis_tabs[name] = tab
            index = self.tabs.addTab(tab, analysis.title.replace("&", "&&"))  # no mnemonic
            self.tabs.setTabToolTip(index, tab_tooltip(analysis.help, index))
        self.tab_names = [*BUILT_IN_TABS, *self.analysis_tabs]
        self._shown_tab = "ela"

    def show_tab(self, name: str) -> None:
        """'ela', 'grid' or a registered analysis's name (an unknown name shows the ELA)."""
        self.tabs.setCurrentIndex(self.tab_names.index(name) if name in self.tab_names else 0)

    def current_tab(self) -> str:
        index = self.tabs.currentIndex()
        return self.tab_names[index] if 0 <= index < len(self.tab_names) else "ela"

    def analysis_tab(self) -> AnalysisTab | None:
        """The generic analysis tab shown, or None on the ELA and grid tabs."""
        return self.analysis_tabs.get(self.current_tab())

    def _on_tab(self, _index: int) -> None:
        previous, self._shown_tab = self._shown_tab, self.current_tab()
        self.app_settings.set_view_tab(self._shown_tab)
        # the newly shown view takes over the zoom and centre of the one left, once laid out
        QTimer.singleShot(0, lambda: self._carry_zoom(previous, self._shown_tab))
        self._update_status()

    def lead_pane(self, tab: str):
        """The pane whose zoom and centre the tab's other panes follow."""
        if tab == "grid":
            return self.grid.panes[0] if self.grid.panes else None
        if tab in self.analysis_tabs:
            return self.analysis_tabs[tab].original
        return self.views._active_pane()

    def _carry_zoom(self, source_tab: str, target_tab: str) -> None:
        source, target = self.lead_pane(source_tab), self.lead_pane(target_tab)
        if source is None or target is None or source is target:
            return
        if source.image_size is None or source.image_size != target.image_size:
            return
        target.set_zoom(source.zoom(), source.viewbox.viewRect().center())

    def zoom_target(self):
        tab = self.current_tab()
        if tab in self.analysis_tabs:
            return self.analysis_tabs[tab]
        return self.grid if tab == "grid" else self.views
