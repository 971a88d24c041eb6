"""One rank of a data-parallel training run, for tests/test_distributed.py (spawned processes)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import torch


@contextlib.contextmanager
def no_dropout():
    """Dropout masks are random per process by design; the parity check needs them off.

    Restored afterwards: the single-process run happens inside the pytest process.
    """
    original = torch.nn.Dropout.forward
    torch.nn.Dropout.forward = lambda self, x: x
    try:
        yield
    finally:
        torch.nn.Dropout.forward = original


def run_training(dataset_root: str, batch_size: int, epochs: int, size: int) -> dict:
    from forensic_viewer.ml import data
    from forensic_viewer.ml import train as t
    from forensic_viewer.ml.preprocess import Recipe

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    config = t.TrainConfig(
        recipe=Recipe(name="small", size=size), epochs=epochs, batch_size=batch_size,
        patience=0, bf16="off", workers=1,
    )  # fmt: skip
    losses, finished = [], None
    try:
        with no_dropout():
            for event in t.train(config, data.scan_dataset(dataset_root)):
                if isinstance(event, t.BatchProgress):
                    losses.append(event.loss)
                if isinstance(event, t.Finished):
                    finished = event
    finally:
        torch.set_num_threads(threads)
    state = finished.model.state_dict()
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(state[name].detach().cpu().numpy().tobytes())
    return {
        "losses": losses,
        "weights_sha256": digest.hexdigest(),
        "weights": {k: v.detach().cpu().flatten()[:64].tolist() for k, v in state.items()},
    }


def rank_main(rank: int, world: int, port: int, dataset_root: str, out_dir: str, kw: dict) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
        LOCAL_RANK=str(rank), GLOO_SOCKET_IFNAME="lo",
    )  # fmt: skip
    result = run_training(dataset_root, **kw)
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(result))
