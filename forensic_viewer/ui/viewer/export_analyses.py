"""File > Export Report with All Analyses: every registered analysis's PNG and its numbers in the
JSON report, whatever the registry holds.

Results already on screen for this image and these parameters are reused; the others are computed
in a worker with a progress dialog and Cancel. ELA and the quality grid run through the registry
with the window's ELA settings. The report of File > Export Report also carries every analysis
already computed for the image (nothing is computed for it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QProgressDialog

from forensic_viewer.core.analyses import REGISTRY, Analysis, resolve_params
from forensic_viewer.core.errors import ForensicError
from forensic_viewer.core.images import LoadedImage

from ..analyses.analysis_jobs import AnalysisFrame, BatchProgress, run_batch
from ..workers import Worker
from . import export

if TYPE_CHECKING:
    from .document import Document
    from .main_window import MainWindow


class AnalysesExport:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.worker: Worker | None = None
        self.dialog: QProgressDialog | None = None
        self.written: list[Path] = []
        """The files of the last finished export (tests, status bar)."""

    # ---- what to run ---------------------------------------------------------------------------
    def params_for(self, analysis: Analysis) -> dict[str, Any]:
        """The parameters the window uses for ``analysis``: its tab's, or the ELA settings."""
        w = self.window
        tab = w.analysis_tabs.get(analysis.name)
        if tab is not None:
            given = tab.params()
        else:
            s = w.session.settings
            given = {
                "quality": s.quality,
                "gain": 0.0 if s.auto_brightness else float(s.gain),
                "grayscale": s.grayscale,
                "auto_scale": s.auto_scale,
                "qualities": ",".join(str(q) for q in w.grid.qualities),
            }
            known = {p.name: p for p in analysis.params}
            given = {k: v for k, v in given.items() if k in known and _valid(known[k], v)}
        return resolve_params(analysis, given)

    def shown_frame(self, doc: Document, analysis: Analysis) -> AnalysisFrame | None:
        """The tab's result if it is for ``doc`` and the tab's current parameters."""
        tab = self.window.analysis_tabs.get(analysis.name)
        frame = None if tab is None else tab.frame
        if frame is None or frame.doc_id != doc.id or not tab.is_complete():
            return None
        return frame

    def computed_blocks(self, doc: Document) -> dict[str, dict]:
        """Report blocks of the analyses already computed (or refused) for ``doc``."""
        blocks: dict[str, dict] = {}
        for name, tab in self.window.analysis_tabs.items():
            frame = self.shown_frame(doc, tab.analysis)
            if frame is not None:
                blocks[name] = export.analysis_block(tab.analysis.title, frame.report(), None)
            elif tab.reason is not None and tab.is_complete() and tab._doc_id == doc.id:
                blocks[name] = export.analysis_block(tab.analysis.title, None, tab.reason)
        return blocks

    # ---- running -------------------------------------------------------------------------------
    def start(self, folder: str | Path | None = None) -> Worker | None:
        """Export into ``folder`` (asked for when None). Returns the worker, or None if refused."""
        w = self.window
        doc = w.session.current
        pixels = None if doc is None else w.session.pixels(doc)
        if doc is None or pixels is None or w.session.last_frame is None:
            w.show_message("Nothing to export yet: open an image and wait for its ELA")
            return None
        if self.worker is not None and not self.worker.is_done:
            w.show_message("An export is already running")
            return None
        if folder is None:
            st = w.app_settings
            start = export.suggest_export_dir(st.last_dir("export"), w.session.documents)
            folder = QFileDialog.getExistingDirectory(w, "Export all analyses into", start)
            if not folder:
                return None
        folder = Path(folder)
        evidence = export.evidence_paths(w.session.documents)
        report_path = folder / export.default_name(doc, "report")
        try:
            export.check_output_path(report_path, evidence)  # refuse the evidence folder first
        except ForensicError as exc:
            w.show_message(f"{report_path.name}: not exported ({exc})")
            return None
        shown: dict[str, AnalysisFrame] = {}
        todo: list[tuple[Analysis, dict]] = []
        for analysis in REGISTRY.values():
            frame = self.shown_frame(doc, analysis)
            if frame is not None:
                shown[analysis.name] = frame
            else:
                todo.append((analysis, self.params_for(analysis)))
        image = LoadedImage(pixels=pixels, facts=doc.facts)
        worker: Worker | None = None
        worker = Worker(run_batch, todo, doc.id, image, lambda: worker.abort_requested)
        self.dialog = QProgressDialog("Computing the analyses...", "Cancel", 0, len(todo), w)
        self.dialog.setWindowTitle("Export all analyses")
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.setMinimumDuration(300)
        self.dialog.canceled.connect(worker.quit)
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(
            lambda computed: self._write(doc, folder, report_path, {**shown, **computed})
        )
        worker.errored.connect(lambda exc: self._failed(report_path, exc))
        worker.aborted.connect(lambda: w.show_message("Export cancelled; nothing was written"))
        worker.finished.connect(self._close_dialog)
        self.written = []
        self.worker = w.session.pool.start(worker)
        return self.worker

    def _on_progress(self, step: BatchProgress) -> None:
        if self.dialog is not None:
            self.dialog.setValue(step.done)
            self.dialog.setLabelText(f"{step.title} ({step.done + 1} of {step.total})")

    def _close_dialog(self) -> None:
        if self.dialog is not None:
            self.dialog.reset()
            self.dialog.deleteLater()
            self.dialog = None

    def _failed(self, report_path: Path, exc: Exception) -> None:
        from forensic_viewer.core.analyses import AnalysisCancelled

        if isinstance(exc, AnalysisCancelled):
            self.window.show_message("Export cancelled; nothing was written")
        else:
            self.window.show_message(f"{report_path.name}: not exported ({exc})")

    def _write(self, doc: Document, folder: Path, report_path: Path, results: dict) -> None:
        w = self.window
        evidence = export.evidence_paths(w.session.documents)
        blocks: dict[str, dict] = {}
        written: list[Path] = []
        try:
            for name, analysis in REGISTRY.items():
                item = results.get(name)
                if isinstance(item, str) or item is None:
                    blocks[name] = export.analysis_block(analysis.title, None, item or "not run")
                    continue
                files = export.export_analysis_pngs(
                    folder, doc.path.stem, name, item.picture, item.extras, evidence
                )
                written += [folder / f for f in files.values()]
                blocks[name] = export.analysis_block(analysis.title, item.report(), None, files)
            frame = w.session.last_frame
            if frame is None or frame.doc_id != doc.id:  # the user moved on meanwhile
                report = export.build_report(doc, w.session.settings, analyses=blocks)
            else:
                grid_cells = w.grid.ordered_cells() if w.grid.is_complete() else None
                report = export.build_report(
                    doc, frame.settings, frame.max_diff, frame.gain, frame.seconds, grid_cells,
                    analyses=blocks,
                )  # fmt: skip
            written.append(export.write_report(report_path, report, evidence))
        except (ForensicError, OSError, ValueError) as exc:
            w.show_message(f"{report_path.name}: not exported ({exc})")
            return
        self.written = written
        w.app_settings.set_last_dir("export", folder)
        w.statusBar().showMessage(f"Exported {len(written)} files into {folder}", 8000)


def _valid(param, value) -> bool:
    try:
        param.coerce(value)
    except ValueError:
        return False
    return True
