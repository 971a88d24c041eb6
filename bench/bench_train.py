"""Training throughput: the straightforward Keras-style loop vs ours, on precomputed inputs.

    .venv/bin/python bench/bench_train.py [--batches 6] [--rounds 3] [--batch-size 32]

Both loops train ElaCnn (29.5 M parameters) on the same 3 x 128 x 128 inputs:

- baseline: float32 NCHW tensors, float32 model, Adam, cross-entropy (what a direct Keras port
  does);
- ours: the trainer's own step (``train.train_step``, ``train.make_optimizer``): uint8 inputs
  converted on the fly, channels-last, fused Adam, bf16 autocast when the CPU has native bfloat16
  (``--bf16 auto``), Keras decay.

Rounds alternate between the loops so that load from other processes hits both alike; the median
images/s per loop and the ratio are printed. ELA is not part of the loop: the trainer reads it
from the cache (ml/data.py), so it never waits on ELA.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forensic_viewer.ml import scoring  # noqa: E402
from forensic_viewer.ml import train as t  # noqa: E402
from forensic_viewer.ml.model import ElaCnn  # noqa: E402


def baseline_loop(batches: list, labels: torch.Tensor):
    torch.manual_seed(0)
    model = ElaCnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    floats = [b.float() / 255.0 for b in batches]  # precomputed float32 inputs

    def run() -> None:
        model.train()
        for x in floats:
            optimizer.zero_grad()
            loss = loss_fn(model(x), labels)
            loss.backward()
            optimizer.step()

    return run


def our_loop(batches: list, labels: torch.Tensor, bf16: bool):
    torch.manual_seed(0)
    device = torch.device("cpu")
    model = ElaCnn().to(memory_format=torch.channels_last)
    optimizer = t.make_optimizer(model, 1e-4)
    scheduler = t.keras_decay_schedule(optimizer, 1e-4 / 30)
    loss_fn = nn.CrossEntropyLoss()

    def run() -> None:
        model.train()
        for batch in batches:
            x = scoring.to_input(batch, device)
            t.train_step(model, optimizer, scheduler, loss_fn, x, labels, device, bf16)

    return run


def measure(run, images: int) -> float:
    started = time.perf_counter()
    run()
    return images / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=6, help="batches per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--bf16", choices=("auto", "on", "off"), default="auto")
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(0)
    shape = (args.batch_size, 3, 128, 128)
    batches = [torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)] * args.batches
    labels = torch.randint(0, 2, (args.batch_size,), generator=generator)
    bf16 = scoring.use_bf16(args.bf16, torch.device("cpu"))
    loops = {
        "baseline fp32 NCHW": baseline_loop(batches, labels),
        "ours fp32 channels-last": our_loop(batches, labels, False),
        f"ours ({'bf16 autocast' if bf16 else 'fp32'}) channels-last": our_loop(
            batches, labels, bf16
        ),
    }
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"native bf16: {scoring.cpu_has_native_bf16()}, batch {args.batch_size}, "
        f"{args.batches} batches x {args.rounds} rounds"
    )
    for run in loops.values():  # warm-up: first-call allocations and oneDNN kernel selection
        measure(run, 1)
    rates: dict[str, list[float]] = {name: [] for name in loops}
    images = args.batches * args.batch_size
    for _ in range(args.rounds):
        for name, run in loops.items():
            rates[name].append(measure(run, images))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    for name, values in rates.items():
        spread = ", ".join(f"{v:.1f}" for v in values)
        print(f"{name:<36} {medians[name]:6.1f} images/s  (rounds: {spread})")
    base = medians["baseline fp32 NCHW"]
    best_name = list(loops)[-1]
    print(f"ratio ours/baseline: {medians[best_name] / base:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
