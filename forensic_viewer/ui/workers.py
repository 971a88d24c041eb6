"""Background work for the window: generator workers on a QThreadPool (napari/superqt style).

A job is a plain function. If it returns a generator, each ``yield`` is delivered on the GUI thread
through ``yielded`` and the generator's ``return`` value through ``returned``; a plain function's
result goes to ``returned``. ``quit()`` sets a flag that the worker checks between yields (and that
the job itself can read through ``worker.abort_requested``), so a long job stops at its next step.

Results for something the user no longer looks at are dropped with a :class:`GenerationCounter`:
each request takes a new generation number and a result is applied only if its number is still the
latest one. Cancelling alone is not enough, because a result can already be queued for delivery.
"""

from __future__ import annotations

import inspect
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class WorkerSignals(QObject):
    """Signals live on a QObject created in the GUI thread, so they are delivered there."""

    started = Signal()
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)
    """The exception raised by the job (with ``__traceback_text__`` attached for logs)."""
    aborted = Signal()
    """The job stopped early because ``quit()`` was called."""
    finished = Signal()
    """Always the last signal, whatever happened."""


_RUNNING: set[Worker] = set()
"""Workers between submission and the end of ``run()``. QThreadPool holds only a C++ pointer
(autoDelete is off), so without this the last Python reference could go with its owner (a closed
wizard's pool, a page) while the thread still runs: its signals' QObject is then deleted and every
later emit raises 'Signal source has been deleted' on the pool thread (issue 12, item 8)."""
_RUNNING_LOCK = threading.Lock()


class Worker(QRunnable):
    """Run ``function(*args, **kwargs)`` on a thread pool; see the module docstring."""

    def __init__(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.setAutoDelete(False)  # Python owns the object; the pool only borrows it
        self.signals = WorkerSignals()
        self._function = function
        self._args = args
        self._kwargs = kwargs
        self._abort = False
        self.generation: int | None = None
        self.is_running = False
        self.is_done = False
        # convenience aliases so callers write worker.returned.connect(...)
        self.started = self.signals.started
        self.yielded = self.signals.yielded
        self.returned = self.signals.returned
        self.errored = self.signals.errored
        self.aborted = self.signals.aborted
        self.finished = self.signals.finished

    @property
    def abort_requested(self) -> bool:
        return self._abort

    def quit(self) -> None:
        """Ask the job to stop at its next ``yield`` (it emits ``aborted`` instead of a result)."""
        self._abort = True

    def keep_alive(self) -> None:
        """Hold this worker until its ``run()`` ends (call before handing it to a pool)."""
        with _RUNNING_LOCK:
            _RUNNING.add(self)

    def run(self) -> None:  # runs on a pool thread
        try:
            self._run()
        finally:
            with _RUNNING_LOCK:
                _RUNNING.discard(self)

    def _run(self) -> None:
        self.is_running = True
        self.signals.started.emit()
        try:
            if self._abort:
                self.signals.aborted.emit()
                return
            result = self._function(*self._args, **self._kwargs)
            if inspect.isgenerator(result):
                result = self._drain(result)
                if result is _ABORTED:
                    self.signals.aborted.emit()
                    return
            self.signals.returned.emit(result)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none escapes
            exc.__traceback_text__ = traceback.format_exc()
            self.signals.errored.emit(exc)
        finally:
            self.is_running = False
            self.is_done = True
            # A finished worker can outlive its job (connections made with lambdas that name it
            # form cycles through Qt that the collector cannot see): its arguments, often a
            # whole image, must not live as long as it does (issue 12, item 13).
            self._function, self._args, self._kwargs = None, (), {}
            self.signals.finished.emit()

    def _drain(self, generator) -> Any:
        while True:
            if self._abort:
                generator.close()
                return _ABORTED
            try:
                value = next(generator)
            except StopIteration as stop:
                return stop.value
            self.signals.yielded.emit(value)


_ABORTED = object()


class GenerationCounter:
    """Monotonic request numbers: ``bump()`` for a new request, ``is_current(n)`` on a result."""

    def __init__(self) -> None:
        self.value = 0
        self.dropped = 0
        """How many results arrived for an older generation and were ignored."""

    def bump(self) -> int:
        self.value += 1
        return self.value

    def is_current(self, generation: int | None) -> bool:
        return generation == self.value

    def accept(self, generation: int | None) -> bool:
        """True if ``generation`` is current; otherwise count it as dropped."""
        if generation == self.value:
            return True
        self.dropped += 1
        return False


class WorkerPool(QObject):
    """A thread pool that keeps its workers alive until they finish and can tell when it is idle."""

    idleChanged = Signal(bool)

    def __init__(self, max_threads: int = 3, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._active: set[Worker] = set()

    def start(self, worker: Worker, generation: int | None = None) -> Worker:
        worker.generation = generation
        was_idle = not self._active
        self._active.add(worker)
        worker.finished.connect(lambda w=worker: self._forget(w))
        worker.keep_alive()
        self.pool.start(worker)
        if was_idle:
            self.idleChanged.emit(False)
        return worker

    def _forget(self, worker: Worker) -> None:
        self._active.discard(worker)
        if not self._active:
            self.idleChanged.emit(True)

    @property
    def active(self) -> int:
        return len(self._active)

    def is_idle(self) -> bool:
        return not self._active

    def quit_all(self) -> None:
        for worker in list(self._active):
            worker.quit()

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Ask every job to stop and wait for the threads (call before the app exits)."""
        self.quit_all()
        self.pool.clear()
        with _RUNNING_LOCK:  # jobs removed from the queue never run: nothing to keep alive
            _RUNNING.difference_update(w for w in self._active if not w.is_running)
        return self.pool.waitForDone(timeout_ms)
