"""One rank of a data-parallel training run, for tests/test_distributed.py (spawned processes)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch


def no_dropout() -> None:
    """Dropout masks are random per process by design; the parity check needs them off."""
    torch.nn.Dropout.forward = lambda self, x: x


def run_training(dataset_root: str, batch_size: int, epochs: int, size: int) -> dict:
    from forensic_viewer.ml import data
    from forensic_viewer.ml import train as t
    from forensic_viewer.ml.preprocess import Recipe

    torch.set_num_threads(1)
    no_dropout()
    config = t.TrainConfig(
        recipe=Recipe(name="small", size=size), epochs=epochs, batch_size=batch_size,
        patience=0, bf16="off", workers=1,
    )  # fmt: skip
    losses, finished = [], None
    for event in t.train(config, data.scan_dataset(dataset_root)):
        if isinstance(event, t.BatchProgress):
            losses.append(event.loss)
        if isinstance(event, t.Finished):
            finished = event
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
