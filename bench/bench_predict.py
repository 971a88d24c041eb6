"""Verdict speed: open-image-to-verdict for one CASIA-size image, and batch throughput.

- Open to verdict: ``load_image`` + ``Predictor.predict`` (ELA + network) on a fresh array, for
  the classic (resize) and the tiles recipe; the issue's budget is 300 ms on this machine.
- Batch: ``predict_paths`` (loader thread one file ahead, resize inputs batched) against a naive
  sequential loop (load, preprocess, one forward per file) over the same CASIA files, same run.

The network has random weights saved to a temporary model file: speed does not depend on the
weights, and random weights are never written to models/. Prints medians and ratios.

    .venv/bin/python bench/bench_predict.py [--files 50] [--repeats 15]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from forensic_viewer.core.images import load_image  # noqa: E402
from forensic_viewer.ml.batch import predict_paths  # noqa: E402
from forensic_viewer.ml.model import ElaCnn, p_tampered  # noqa: E402
from forensic_viewer.ml.modelfile import ModelCard, load_model, save_model  # noqa: E402
from forensic_viewer.ml.predict import Predictor, configure_torch_threads  # noqa: E402
from forensic_viewer.ml.preprocess import (  # noqa: E402
    CLASSIC,
    TILES,
    aggregate_tiles,
    classic_input,
    cut_tiles,
    ela_rendering,
)

CASIA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "casia1"


def casia_sample(count: int) -> list[Path]:
    files = sorted(CASIA.glob("authentic/*.jpg")) + sorted(CASIA.glob("tampered/*.jpg"))
    if not files:
        sys.exit(f"CASIA not found at {CASIA}")
    step = max(1, len(files) // count)
    return files[::step][:count]


def open_to_verdict(predictor: Predictor, paths: list[Path], repeats: int) -> dict[str, float]:
    predictor.predict(load_image(paths[0]).pixels)  # warm-up
    total, load, verdict, cpu = [], [], [], []
    for i in range(repeats):
        path = paths[i % len(paths)]
        started, cpu_started = time.perf_counter(), time.process_time()
        pixels = load_image(path).pixels
        loaded = time.perf_counter()
        predictor.predict(pixels)
        done = time.perf_counter()
        cpu.append(time.process_time() - cpu_started)
        total.append(done - started)
        load.append(loaded - started)
        verdict.append(done - loaded)
    ela_times = []
    for i in range(repeats):
        pixels = load_image(paths[i % len(paths)]).pixels
        started = time.perf_counter()
        ela_rendering(pixels, predictor.recipe)
        ela_times.append(time.perf_counter() - started)
    return {
        "total": statistics.median(total) * 1000,
        "load": statistics.median(load) * 1000,
        "ela": statistics.median(ela_times) * 1000,
        "ela+network": statistics.median(verdict) * 1000,
        "process CPU": statistics.median(cpu) * 1000,
    }


def naive_batch(model: torch.nn.Module, recipe, paths: list[Path]) -> list[float]:
    """The straightforward loop: one file at a time, everything in the calling thread."""
    probabilities = []
    with torch.inference_mode():
        for path in paths:
            pixels = load_image(path).pixels
            if recipe.mode == "tiles":
                tiles, _ = cut_tiles(ela_rendering(pixels, recipe), recipe.size, recipe.tile_stride)
                probs = p_tampered(model(torch.from_numpy(tiles))).numpy()
                probabilities.append(aggregate_tiles(probs, recipe.aggregate))
            else:
                x = torch.from_numpy(classic_input(pixels, recipe)[None])
                probabilities.append(float(p_tampered(model(x))[0]))
    return probabilities


def timed(fn, *args) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


def run_all(paths: list[Path], predictor: Predictor) -> list:
    return list(predict_paths(paths, predictor))


VARIANTS = {
    # name: (torch intra-op threads, Predictor workers)
    "ours (1 torch thread x 2 chunks)": (1, None),
    "OpenMP 2 threads, 1 chunk": (2, 1),
    "1 thread, 1 chunk": (1, 1),
}


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-batch", action="store_true")
    args = parser.parse_args()

    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, load average {load_average()} at start"
    )
    paths = casia_sample(args.files)
    height, width = load_image(paths[0]).pixels.shape[:2]
    print(f"# {len(paths)} CASIA files, e.g. {width}x{height}")

    torch.manual_seed(0)
    network = ElaCnn()
    with tempfile.TemporaryDirectory() as folder:
        models = {}
        for recipe in (CLASSIC, TILES):
            card = ModelCard(name=f"bench-{recipe.name}", recipe=recipe.as_dict())
            models[recipe.name] = load_model(
                save_model(Path(folder) / recipe.name, network, card, half=True)
            )

    print("\n## Open image to verdict (load + ELA + network), median ms; budget 300 ms")
    for variant, (threads, workers) in VARIANTS.items():
        configure_torch_threads(threads)
        for name, loaded in models.items():
            result = open_to_verdict(Predictor(loaded, workers=workers), paths, args.repeats)
            parts = ", ".join(f"{k} {v:.1f}" for k, v in result.items())
            print(f"{name:8s} {variant:34s} {parts}")
    configure_torch_threads(1)
    predictor = Predictor(models["classic"])
    heat = [timed(predictor.heatmap, load_image(p).pixels)[0] for p in paths[: args.repeats]]
    heat_ms = statistics.median(heat) * 1000
    print(f"heatmap of a classic model (own ELA + 15 tiles of 128 px), ours: {heat_ms:.1f}")
    if args.skip_batch:
        return

    print(
        "\n## Batch throughput, images/s: median and best of interleaved rounds "
        "(ratio to the naive loop's)"
    )
    for name, loaded in models.items():
        files = paths if name == "classic" else paths[: max(8, len(paths) // 4)]
        naive_batch(loaded.model, loaded.recipe, files[:2])  # warm-up
        times: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            # Variants take turns, so load from other processes hits them alike.
            # The naive loop runs with torch's defaults: OpenMP over all cores.
            configure_torch_threads(os.cpu_count())
            cpu_started = time.process_time()
            seconds, naive_probs = timed(naive_batch, loaded.model, loaded.recipe, files)
            times.setdefault("naive loop", []).append(seconds)
            cpu.setdefault("naive loop", []).append(time.process_time() - cpu_started)
            for variant, (threads, workers) in list(VARIANTS.items())[:2]:
                configure_torch_threads(threads)
                cpu_started = time.process_time()
                seconds, items = timed(run_all, files, Predictor(loaded, workers=workers))
                times.setdefault("predict_paths " + variant, []).append(seconds)
                cpu.setdefault("predict_paths " + variant, []).append(
                    time.process_time() - cpu_started
                )
        worst = max(
            abs(item.prediction.p_tampered - p) for item, p in zip(items, naive_probs, strict=True)
        )
        naive_median = len(files) / statistics.median(times["naive loop"])
        naive_best = len(files) / min(times["naive loop"])
        print(f"{name}: {len(files)} files x {args.rounds} rounds; max |p - naive p| {worst:.1e}")
        for variant, seconds in times.items():
            median, best = len(files) / statistics.median(seconds), len(files) / min(seconds)
            cpu_ms = statistics.median(cpu[variant]) / len(files) * 1000
            print(
                f"  {variant:50s} median {median:5.1f} ({median / naive_median:.2f}x)  "
                f"best {best:5.1f} ({best / naive_best:.2f}x)  process CPU {cpu_ms:.0f} ms/image"
            )
    print(f"# load average {load_average()} at end")


if __name__ == "__main__":
    main()
