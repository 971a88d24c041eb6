"""A worker outlives whatever owned it while its thread runs (issue 12, item 8: closing the
wizard around 'Use this model' printed 'Signal source has been deleted' from a QRunnable)."""

from __future__ import annotations

import gc
import threading

from forensic_viewer.ui import workers
from forensic_viewer.ui.workers import Worker, WorkerPool


def test_a_worker_dropped_by_its_owner_mid_run_still_emits(qtbot, capfd):
    pool = WorkerPool(max_threads=1)
    gate, entered = threading.Event(), threading.Event()
    got: list = []

    def job():
        entered.set()
        return 42 if gate.wait(10) else None

    worker = Worker(job)
    worker.returned.connect(got.append)
    pool.start(worker)
    qtbot.waitUntil(entered.is_set, timeout=5_000)
    # the owner lets go (a closed wizard's page, a forgotten pool entry): no reference is left
    pool._active.clear()
    del worker
    gc.collect()
    gate.set()
    qtbot.waitUntil(lambda: pool.pool.activeThreadCount() == 0, timeout=5_000)
    qtbot.waitUntil(lambda: got == [42], timeout=5_000)
    assert "Signal source has been deleted" not in capfd.readouterr().err
    assert not workers._RUNNING  # released once run() ended


def test_queued_jobs_cleared_at_shutdown_are_not_kept(qtbot):
    pool = WorkerPool(max_threads=1)
    gate = threading.Event()
    first = pool.start(Worker(gate.wait, 10))
    queued = pool.start(Worker(lambda: None))
    qtbot.waitUntil(lambda: first.is_running, timeout=5_000)
    gate.set()
    assert pool.shutdown(5_000)
    assert queued not in workers._RUNNING and first not in workers._RUNNING
