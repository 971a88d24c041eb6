"""The network's part of the main window: badge, filmstrip verdicts, heatmap, triage sort.

A mixin of :class:`MainWindow` (which owns the widgets); ``ui.verdicts.VerdictController`` does
the work, this turns its signals into what the user sees and keeps the choices in the settings.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer

from ..network.model_catalog import CardText
from ..network.verdict_jobs import VerdictOutcome
from ..viewer.document import Document

WARM_UP_MS = 1500
"""After the window is up, the active model is loaded in the background (torch included), so the
first image's verdict does not wait for it. Later than start-up, so start-up stays light."""
SORT_DELAY_MS = 250
"""Verdicts arriving in a burst re-sort the triage list once."""
NO_MODEL_TEXT = "No model loaded"


class NetworkMixin:
    # ---- construction (called by MainWindow.__init__) ---------------------------------------
    def _build_network_timers(self) -> None:
        self._sort_timer = QTimer(self)
        self._sort_timer.setSingleShot(True)
        self._sort_timer.timeout.connect(self._apply_sort)
        self._warm_up_timer = QTimer(self)
        self._warm_up_timer.setSingleShot(True)
        self._warm_up_timer.timeout.connect(lambda: self.verdicts.warm_up())
        self._warmed_up = False

    def _connect_network(self) -> None:
        v = self.verdicts
        v.stateChanged.connect(self._on_model_state)
        v.verdictReady.connect(self._on_verdict)
        v.verdictFailed.connect(lambda doc, _text: self._on_verdict(doc))
        v.overlayReady.connect(self._on_overlay)
        v.message.connect(self.show_message)
        self.badge.trainRequested.connect(self.model_menu.open_training_wizard)
        self.badge.loadModelRequested.connect(lambda: self.model_menu.load_model_file())
        self.network.heatmapToggled.connect(self.set_heatmap)
        self.network.opacityChanged.connect(self._on_heat_opacity)
        self.network.sortToggled.connect(self.set_sort)

    def _restore_network(self) -> None:
        st = self.app_settings
        self.heat_layer.set_opacity(st.heatmap_opacity())
        self.network.set_opacity(st.heatmap_opacity())
        self.set_sort(st.sort_by_verdict())
        self.set_heatmap(st.heatmap_on())
        self.verdicts.use_default(st.model_path())

    def _show_network_for(self, doc: Document | None) -> None:
        """The shown image changed: its verdict (or a spinner), its heatmap when known."""
        self.heat_layer.set_overlay(None)
        self.verdicts.on_current_changed(doc)
        self._update_badge()
        self._describe_heat()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._warmed_up:
            self._warmed_up = True
            self._warm_up_timer.start(WARM_UP_MS)

    # ---- user choices ------------------------------------------------------------------------
    def choose_model(self, path: str | Path | None) -> None:
        """Switch the active model; remembered once it has loaded."""
        self.verdicts.set_model(path, load_now=path is not None)

    def set_heatmap(self, on: bool, remember: bool = True) -> None:
        self.network.set_heatmap(on)
        self.model_menu.sync(on, self.network.sort.isChecked())
        if remember:
            self.app_settings.set_heatmap_on(on)
        if not on:
            self.heat_layer.set_overlay(None)
        self.verdicts.set_heatmap_wanted(on)
        self._describe_heat()

    def _on_heat_opacity(self, opacity: float) -> None:
        self.heat_layer.set_opacity(opacity)
        self.app_settings.set_heatmap_opacity(opacity)

    def set_sort(self, on: bool) -> None:
        self.network.set_sort(on)
        self.model_menu.sync(self.network.heatmap.isChecked(), on)
        self.app_settings.set_sort_by_verdict(on)
        self._apply_sort()

    def _apply_sort(self) -> None:
        if self.network.sort.isChecked():
            self.filmstrip.sort_by_p_tampered()
        else:
            self.filmstrip.sort_by_opening_order()

    def _on_model_state(self) -> None:
        v = self.verdicts
        if v.state == "ready" and v.model_path is not None:
            self.app_settings.set_model_path(v.model_path)
        if v.state == "none":
            self.network.model_label.setText("No model: Model > Load Model File, or train one")
        elif v.state == "error":
            self.network.model_label.setText(f"Model not usable: {v.error}")
        else:
            name = v.card.name if v.card else v.model_path.stem
            loading = "   (loading...)" if v.state in ("unloaded", "loading") else ""
            self.network.model_label.setText(f"Model: {name}{loading}")
        self.network.model_label.setToolTip(v.card.summary() if v.card else "")
        threshold = v.card.threshold if v.card else None
        self.network.legend.set_threshold(threshold)
        if self.model_menu.menu.isVisible():
            self.model_menu.rebuild()
        self._update_badge()
        self._update_progress()

    def _on_verdict(self, doc: Document) -> None:
        self.filmstrip.set_verdict(doc)
        if doc is self.session.current:
            self._update_badge()
            self._describe_heat()
        if self.network.sort.isChecked() and not self._sort_timer.isActive():
            self._sort_timer.start(SORT_DELAY_MS)
        self._update_progress()

    def _on_overlay(self, overlay) -> None:
        doc = self.session.current
        if doc is None or overlay.doc_id != doc.id or not self.network.heatmap.isChecked():
            return
        self.heat_layer.set_overlay(overlay)
        self._describe_heat()

    def _describe_heat(self) -> None:
        overlay = self.heat_layer.overlay
        waiting = self.session.current is not None and self.verdicts.model_path is not None
        outcome = self.verdicts.outcome(self.session.current)
        if overlay is None and outcome is not None and outcome.p_tampered is None:
            # inconclusive without running the model: there is no heatmap to wait for
            self.network.heat_info.setText("no heatmap: the model was not run on this image")
            return
        self.network.describe_overlay(overlay, waiting=waiting and overlay is None)

    def _update_progress(self) -> None:
        total = len(self.session.documents)
        pending = self.verdicts.pending_count() if self.verdicts.state == "ready" else 0
        self.network.progress.setText(
            f"Verdicts: {total - pending} of {total} images" if total and pending else ""
        )

    def _update_badge(self) -> None:
        """The badge for the image shown: result, spinner, or why there is no verdict."""
        v, doc = self.verdicts, self.session.current
        if v.state == "none":
            self.badge.set_no_model(NO_MODEL_TEXT)
        elif v.state == "error":
            self.badge.set_no_model("Model not usable")
        elif doc is None:
            self.badge.clear()
        elif (outcome := v.outcome(doc)) is not None:
            self.badge.set_result(doc.verdict, self._details(outcome))
        elif doc.id in v.failures:
            self.badge.set_unavailable("No verdict for this image")
            self.badge.setToolTip(v.failures[doc.id])
        elif v.state in ("unloaded", "loading"):
            self.badge.set_running("Loading model...")
        else:
            self.badge.set_running()

    def _details(self, outcome: VerdictOutcome) -> str:
        card: CardText | None = self.verdicts.card
        lines = [card.summary()] if card is not None else []
        if outcome.p_tampered is not None:
            lines.append(f"{outcome.seconds * 1000:.0f} ms")
        if not outcome.exact:
            lines.append(
                f"Large image: scored on {outcome.tiles} tiles every {outcome.tile_stride} px "
                "(the model's own stride would need many more), so this is an approximation"
            )
        return "\n".join(lines)
