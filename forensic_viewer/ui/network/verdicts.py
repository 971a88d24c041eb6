"""The network's side of the window: which model is active, and verdicts computed in the background.

No widgets here; the window turns the signals into the badge, the filmstrip and the heatmap.

- One network job at a time on the session's pool (the predictor already spreads a batch over
  both cores): the image on screen first, then every other open image in opening order, so the
  filmstrip fills up for triage. A Predictor is loaded once per model, in a worker (torch is
  imported there on first use), and kept for the next switch back.
- Results are kept per document for the active model. When the model changes, the running job is
  cancelled and every result still on its way is dropped by ``model_generation``: a result can
  already be queued for delivery when the cancel comes, so cancelling alone is not enough. When
  the user moves to another image, a running verdict for the previous one still completes (it
  costs at most ``max_tiles`` tiles) and goes to the filmstrip, not to the badge; expensive ones
  are cancelled so the new image is not kept waiting. Heatmap overlays made for an image that is
  no longer shown are dropped by ``view_generation``.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from ..network import verdict_jobs
from ..network.model_catalog import CardText, default_model
from ..viewer.document import Document, Verdict
from ..workers import GenerationCounter, Worker

KEPT_PREDICTORS = 2
"""Loaded models kept in memory (about 120 MB each), so switching back is instant."""
CANCEL_ON_SWITCH_PIXELS = 1_500_000
"""A background verdict for an image at least this big is cancelled when the user moves on."""


class VerdictController(QObject):
    stateChanged = Signal()
    """The model's state changed (none / loading / ready / error), or results were reset."""
    verdictReady = Signal(object)
    """A Document whose ``verdict`` was just set for the active model."""
    verdictFailed = Signal(object, str)
    overlayReady = Signal(object)
    """verdict_jobs.HeatOverlay for the image on screen."""
    message = Signal(str)

    def __init__(self, session, lut: np.ndarray, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.lut = lut
        self.max_tiles = verdict_jobs.DEFAULT_MAX_TILES
        self.model_path: Path | None = None
        self.card: CardText | None = None
        self.state = "none"  # none | unloaded | loading | ready | error
        self.error: str | None = None
        self.model_generation = GenerationCounter()
        self.view_generation = GenerationCounter()
        self.outcomes: dict[int, verdict_jobs.VerdictOutcome] = {}
        self.failures: dict[int, str] = {}
        self.overlay: verdict_jobs.HeatOverlay | None = None
        self.want_heatmap = False
        self._predictors: OrderedDict[Path, object] = OrderedDict()
        self._job: Worker | None = None
        self._job_doc: Document | None = None
        self._overlay_job: Worker | None = None
        self._overlay_pending = False
        self._load_wanted = False
        """Load the model even without an image (chosen by the user, or the warm-up)."""

    # ---- the model -----------------------------------------------------------------------------
    def set_model(self, path: str | Path | None, load_now: bool = False) -> None:
        """Make ``path`` the active model (None: no model). Verdicts are recomputed with it.

        The model is loaded when an image needs it, or at once with ``load_now`` (a model the
        user just chose: a bad file is reported right away).
        """
        self.model_generation.bump()
        self.view_generation.bump()
        if self._job is not None:
            self._job.quit()
        self.outcomes.clear()
        self.failures.clear()
        self.overlay = None
        for doc in self.session.documents:
            if doc.verdict is not None:
                doc.verdict = None
                self.verdictReady.emit(doc)
        self.error = None
        self.card = None
        self.model_path = None if path is None else Path(path)
        if self.model_path is None:
            self.state = "none"
        else:
            try:  # for the menu and labels until it loads; loading checks it properly
                self.card = CardText.read(self.model_path)
            except ValueError:
                self.card = None
            self.state = "ready" if self.model_path in self._predictors else "unloaded"
        self._load_wanted = load_now
        self.stateChanged.emit()
        self._schedule()

    def use_default(self, remembered: str | None) -> None:
        """The remembered model if its file is still there, else the shipped default."""
        path = Path(remembered) if remembered else None
        if path is None or not path.is_file():
            path = default_model()
        self.set_model(path)

    @property
    def predictor(self):
        return self._predictors.get(self.model_path) if self.model_path else None

    def warm_up(self) -> None:
        """Load the active model now (e.g. once the window is up), before the first image."""
        if self.state == "unloaded":
            self._load_wanted = True
            self._schedule()

    def _fail_model(self, text: str) -> None:
        self.state = "error"
        self.error = text
        self.message.emit(f"Model not usable: {text}")
        self.stateChanged.emit()

    def _start_load(self) -> None:
        path, generation = self.model_path, self.model_generation.value
        self.state = "loading"
        worker = Worker(verdict_jobs.load_predictor, path)
        worker.returned.connect(lambda p, g=generation, m=path: self._on_loaded(m, p, g))
        worker.errored.connect(lambda e, g=generation: self._on_load_failed(e, g))
        self._run(worker, None, generation)
        self.stateChanged.emit()

    def _on_loaded(self, path: Path, predictor, generation: int) -> None:
        self._predictors[path] = predictor
        self._predictors.move_to_end(path)
        while len(self._predictors) > KEPT_PREDICTORS:
            self._predictors.popitem(last=False)
        if not self.model_generation.accept(generation):
            return
        self.card = CardText(predictor.loaded.card.to_dict(), predictor.loaded.card_path)
        self.state = "ready"
        self.stateChanged.emit()

    def _on_load_failed(self, error: Exception, generation: int) -> None:
        if self.model_generation.accept(generation):
            self._fail_model(str(error))

    # ---- what is shown -------------------------------------------------------------------------
    def on_current_changed(self, doc: Document | None) -> None:
        self.view_generation.bump()
        self.overlay = None
        job_doc = self._job_doc
        if (
            self._job is not None
            and job_doc is not None
            and job_doc is not doc
            and job_doc.facts.width * job_doc.facts.height >= CANCEL_ON_SWITCH_PIXELS
        ):
            self._job.quit()  # re-queued: it has no outcome yet
        self._schedule()
        self._request_overlay()

    def set_heatmap_wanted(self, wanted: bool) -> None:
        self.want_heatmap = bool(wanted)
        self._schedule()
        self._request_overlay()

    def outcome(self, doc: Document | None) -> verdict_jobs.VerdictOutcome | None:
        return None if doc is None else self.outcomes.get(doc.id)

    def forget(self, doc_id: int) -> None:
        """A document was closed: drop its results and stop working on it."""
        self.outcomes.pop(doc_id, None)
        self.failures.pop(doc_id, None)
        if self._job_doc is not None and self._job_doc.id == doc_id and self._job is not None:
            self._job.quit()

    def is_idle(self) -> bool:
        return self._job is None and self._overlay_job is None and not self._overlay_pending

    def pending_count(self) -> int:
        """Open images still waiting for a verdict from the active model."""
        return sum(1 for doc in self.session.documents if self._needs_verdict(doc))

    # ---- scheduling ----------------------------------------------------------------------------
    def _needs_verdict(self, doc: Document) -> bool:
        return doc.id not in self.outcomes and doc.id not in self.failures

    def _next(self) -> tuple[Document, bool] | None:
        current = self.session.current
        heat_wanted = self.want_heatmap
        if current is not None and current.id not in self.failures:
            outcome = self.outcomes.get(current.id)
            # an inconclusive outcome (model not run) has no heatmap to compute
            ran = outcome is not None and outcome.p_tampered is not None
            if outcome is None or (heat_wanted and ran and outcome.heatmap is None):
                return current, heat_wanted
        for doc in self.session.documents:
            if self._needs_verdict(doc):
                return doc, False
        return None

    def _schedule(self) -> None:
        if self._job is not None or self.model_path is None:
            return
        if self.state == "unloaded":
            if self.session.documents or self._load_wanted:
                self._start_load()
            return
        if self.state != "ready":
            return
        chosen = self._next()
        if chosen is None:
            return
        doc, want_heatmap = chosen
        predictor, generation = self.predictor, self.model_generation.value
        pixels = self.session.pixels(doc)  # None when evicted: the worker re-reads the file
        box: dict[str, Worker] = {}

        def job():
            return verdict_jobs.compute_verdict(
                predictor,
                doc.id,
                pixels,
                doc.path,
                want_heatmap=want_heatmap,
                max_tiles=self.max_tiles,
                cancel=lambda: box["worker"].abort_requested,
                expected_sha256=doc.facts.sha256,
                facts=doc.facts,
            )

        worker = Worker(job)
        box["worker"] = worker
        worker.returned.connect(lambda out, g=generation, d=doc: self._on_verdict(d, out, g))
        worker.errored.connect(lambda exc, g=generation, d=doc: self._on_failed(d, exc, g))
        self._run(worker, doc, generation)

    def _run(self, worker: Worker, doc: Document | None, generation: int) -> None:
        self._job, self._job_doc = worker, doc
        worker.finished.connect(self._on_job_finished)  # before the pool's own handler
        self.session.pool.start(worker, generation)

    def _on_job_finished(self) -> None:
        self._job = self._job_doc = None
        self._schedule()

    def _on_verdict(self, doc: Document, outcome, generation: int) -> None:
        if not self.model_generation.accept(generation) or doc not in self.session.documents:
            return
        self.outcomes[doc.id] = outcome
        doc.verdict = Verdict(
            state=outcome.verdict.state,
            p_tampered=outcome.p_tampered,
            model_name=outcome.model_name,
            threshold=outcome.threshold,
            reason=outcome.verdict.reason,
            false_alarm_rate=outcome.verdict.false_alarm_rate,
            card_sha256=outcome.weights_sha256,
            model_file=str(outcome.model_path),
            tiles=outcome.tiles,
            tile_stride=outcome.tile_stride,
            exact=outcome.exact,
        )
        self.verdictReady.emit(doc)
        if doc is self.session.current:
            self._request_overlay()

    def _on_failed(self, doc: Document, error: Exception, generation: int) -> None:
        if verdict_jobs.is_cancellation(error) or not self.model_generation.accept(generation):
            return
        if doc not in self.session.documents:
            return
        text = str(error) if str(error).startswith(doc.name) else f"{doc.name}: {error}"
        self.failures[doc.id] = text
        self.message.emit(f"No verdict for {text}")
        self.verdictFailed.emit(doc, text)

    # ---- heatmap overlay -----------------------------------------------------------------------
    def _request_overlay(self) -> None:
        """Colour the shown image's heatmap in a worker when it is wanted and known."""
        doc = self.session.current
        outcome = self.outcome(doc)
        if not self.want_heatmap or outcome is None or outcome.heatmap is None:
            return
        if self.overlay is not None and self.overlay.doc_id == doc.id:
            self.overlayReady.emit(self.overlay)
            return
        if self._overlay_job is not None:
            self._overlay_pending = True  # redone for whatever is shown when this one ends
            return
        generation = self.view_generation.value
        worker = Worker(
            verdict_jobs.make_overlay,
            doc.id,
            outcome.heatmap,
            doc.orientation,
            self.lut,
            doc.facts.height,
        )
        worker.returned.connect(lambda overlay, g=generation: self._on_overlay(overlay, g))
        worker.finished.connect(self._on_overlay_finished)
        self._overlay_job = worker
        self.session.pool.start(worker, generation)

    def _on_overlay(self, overlay, generation: int) -> None:
        if not self.view_generation.accept(generation):
            return
        self.overlay = overlay
        self.overlayReady.emit(overlay)

    def _on_overlay_finished(self) -> None:
        self._overlay_job = None
        if self._overlay_pending:
            self._overlay_pending = False
            self._request_overlay()

    def shutdown(self) -> None:
        self.model_generation.bump()
        self.view_generation.bump()
        if self._job is not None:
            self._job.quit()
