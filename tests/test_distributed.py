"""DDP: 2 gloo ranks follow one process's trajectory; a torchrun run resumes after a kill."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from ddp_worker import rank_main, run_training
from safetensors.numpy import load_file
from test_train import make_dataset

from forensic_viewer.ml import distributed as ddp

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("ddp") / "set", per_class=12)


def test_shard_splits_a_global_batch_like_distributed_sampler():
    chunk = np.arange(7 * 4).reshape(7, 4)
    ranks = [ddp.DistContext(r, 2, r, torch.device("cpu")) for r in (0, 1)]
    (first, f0), (second, f1) = (ddp.shard(chunk, c) for c in ranks)
    assert first[:, 0].tolist() == [0, 8, 16, 24] and second[:, 0].tolist() == [4, 12, 20]
    # The mean of the two scaled per-rank means is the global mean.
    values = chunk[:, 0].astype(float)
    scaled = [first[:, 0].mean() * f0, second[:, 0].mean() * f1]
    assert np.mean(scaled) == pytest.approx(values.mean())
    assert ddp.shard(chunk, None)[1] == 1.0


def test_two_gloo_ranks_match_one_process_with_the_same_global_batch(dataset_root, tmp_path):
    settings = {"batch_size": 6, "epochs": 2, "size": 32}
    single = run_training(str(dataset_root), **settings)
    out = tmp_path / "ranks"
    out.mkdir()
    mp.spawn(
        rank_main, args=(2, free_port(), str(dataset_root), str(out), settings), nprocs=2,
        join=True,
    )  # fmt: skip
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    # Both ranks end with identical weights, bit for bit.
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]
    assert ranks[0]["losses"] == ranks[1]["losses"]
    # The loss curve of 2 ranks x 3 images is the one of 1 process x 6 images.
    assert len(ranks[0]["losses"]) == len(single["losses"]) >= 6
    np.testing.assert_allclose(ranks[0]["losses"], single["losses"], atol=1e-4, rtol=0)
    for name, values in single["weights"].items():
        np.testing.assert_allclose(ranks[0]["weights"][name], values, atol=1e-4, rtol=0)


def kill_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants (torchrun starts its ranks in new sessions)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    family, queue = [], [pid]
    while queue:
        current = queue.pop()
        family.append(current)
        queue.extend(parents.get(current, []))
    for member in family:  # stop all first, so none reacts to another's death
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGSTOP)
    for member in family:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)


def torchrun(*args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GLOO_SOCKET_IFNAME": "lo"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
        "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
        "-m", "forensic_viewer", "train", *args,
    ]  # fmt: skip
    return subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True, **popen,
    )  # fmt: skip


def test_torchrun_trains_and_resumes_after_a_kill(dataset_root, tmp_path):
    common = ["--recipe", "classic", "--input-size", "32", "--epochs", "6", "--patience", "0",
              "--batch-size", "8", "--bf16", "off"]  # fmt: skip
    whole = torchrun(str(dataset_root), "--out", str(tmp_path / "whole"), *common,
                     "--checkpoint-dir", str(tmp_path / "c-whole"))  # fmt: skip
    output, _ = whole.communicate(timeout=600)
    assert whole.returncode == 0, output
    assert output.count("saved ") == 1  # rank 0 alone writes and prints

    checkpoints = tmp_path / "c-killed"
    killed = torchrun(str(dataset_root), "--out", str(tmp_path / "resumed"), *common,
                      "--checkpoint-dir", str(checkpoints))  # fmt: skip
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not (checkpoints / "last.pt").exists():
        time.sleep(0.01)
    kill_tree(killed.pid)  # the launcher and both ranks, at once
    killed.wait()
    assert not (tmp_path / "resumed.safetensors").exists(), "the kill came too late"

    resumed = torchrun(str(dataset_root), "--out", str(tmp_path / "resumed"), *common,
                       "--checkpoint-dir", str(checkpoints), "--resume")  # fmt: skip
    output, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, output
    assert "resumed after epoch" in output
    epoch = int(output.split("resumed after epoch ")[1].split()[0])
    assert 1 <= epoch < 6
    # Same seed, same checkpointed RNG state: the resumed run ends where the whole run ended.
    first = load_file(tmp_path / "whole.safetensors")
    second = load_file(tmp_path / "resumed.safetensors")
    assert first.keys() == second.keys()
    for name in first:
        np.testing.assert_allclose(second[name], first[name], atol=1e-6, rtol=0)
