"""Batch triage on a Ray cluster: the same scoring as ``predict_paths``, spread over actors.

Ray Data reads the file list and runs ``map_batches`` over a pool of actors, each holding one
model (CPU, or one GPU each when the cluster has them). Rows come back as they finish, in no
fixed order, and the caller writes them to the same JSON Lines log as a local run
(core/resultlog.py), so ``--resume`` works the same way. Ray retries the batches of an actor
that dies (a lost worker, an out-of-memory kill) on a restarted actor, so nothing is lost.

Ray is an optional extra (``pip install forensic-viewer[cluster]``); nothing else imports it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..core.errors import ForensicError
from ..core.resultlog import row_key

BATCH_FILES = 8
"""Files per Ray batch: small, so a retried batch costs little and rows stream back early."""


class ClusterError(ForensicError):
    """Ray is missing or the cluster cannot be reached."""


class RayScorer:
    """One model per actor; called with a batch of file paths, returns their rows as JSON."""

    def __init__(self, model_path: str, done: frozenset | None = None, threads: int = 1) -> None:
        from .architectures import make_predictor
        from .predict import configure_torch_threads

        configure_torch_threads(threads)
        self.predictor = make_predictor(model_path)
        self.done = done or frozenset()

    def skip(self, sha256: str, path: str) -> bool:
        return row_key(sha256, path) in self.done

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from .triage import triage_paths

        # Paths travel as bytes: a file name that is not UTF-8 survives Arrow unchanged.
        paths = [Path(os.fsdecode(bytes(raw))) for raw in batch["path"]]
        rows = []
        for item in triage_paths(paths, self.predictor, skip=self.skip, hash_files=True):
            row = {"path": str(item.path), "skipped": True} if item.skipped else item.as_row()
            rows.append(json.dumps(row, ensure_ascii=True, allow_nan=False))
        return {"row": np.array(rows, dtype=object)}


def _start_ray(address: str | None):
    try:
        import ray
    except ImportError as error:
        raise ClusterError(
            "Ray is not installed: pip install 'forensic-viewer[cluster]' (or 'ray[data]')"
        ) from error
    if ray.is_initialized():
        return ray
    import logging

    # The CLI shows its own progress bar; Ray's would interleave with it on stderr.
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ClusterError(
            f"cannot reach the Ray cluster at {address or 'local'}: {error}"
        ) from None
    return ray


def default_workers(cpus: float, gpus: float) -> int:
    """One actor per GPU, else one per two CPUs (each actor's torch uses two threads)."""
    if gpus >= 1:
        return int(gpus)
    return max(1, int(cpus) // 2)


def predict_ray(
    files: Sequence[str | Path],
    model_path: str | Path,
    address: str | None = None,
    done: set | frozenset | None = None,
    workers: int | None = None,
    scorer: type = RayScorer,
    batch_files: int = BATCH_FILES,
) -> Iterator[dict]:
    """Rows for ``files`` (in completion order) from a pool of Ray actors.

    ``done``: resume keys (core.resultlog.row_key) of files already scored; they come back as
    ``{"path": ..., "skipped": True}``. ``address``: an existing cluster ("auto", "ray://..."),
    or None for a local instance using this machine's cores.
    """
    ray = _start_ray(address)
    resources = ray.cluster_resources()
    gpus = float(resources.get("GPU", 0))
    count = workers or default_workers(float(resources.get("CPU", 1)), gpus)
    cpus_each = max(1, int(resources.get("CPU", 1)) // count) if not gpus else 1
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    items = [{"path": os.fsencode(str(f))} for f in files]
    dataset = ray.data.from_items(items, override_num_blocks=max(1, -(-len(items) // batch_files)))
    scored = dataset.map_batches(
        scorer,
        fn_constructor_kwargs={
            "model_path": str(model_path),
            "done": frozenset(done or ()),
            "threads": cpus_each,
        },
        batch_size=batch_files,
        compute=ray.data.ActorPoolStrategy(size=count),
        num_cpus=cpus_each,
        num_gpus=1 if gpus >= 1 else 0,
        # A dead actor is restarted and its unfinished batches are run again.
        max_restarts=-1,
        max_task_retries=-1,
    )
    for record in scored.iter_rows():
        yield json.loads(record["row"])
