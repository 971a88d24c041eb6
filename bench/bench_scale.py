"""Archive-scale triage: one process vs a local Ray instance, and memory over many files.

- ``throughput``: ``forensic-viewer predict --out`` over N CASIA photos (default 1,000), once
  in one process and once with ``--ray`` (a local Ray instance with W model actors), in the same
  run; checks that both logs hold the same rows (timings aside) and prints the ratio.
- ``memory``: peak RSS of ``predict --out`` over a small and a large folder of small JPEGs
  (default 1,000 and 20,000), to show that it stays flat: nothing per result is kept.

Both use the shipped default model and run the real CLI in child processes.

    .venv/bin/python bench/bench_scale.py throughput [--files 1000] [--workers 2]
    .venv/bin/python bench/bench_scale.py memory [--small 1000] [--large 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.photos import CASIA  # noqa: E402


def predict(folder: Path, out: Path, *extra: str) -> tuple[float, int]:
    """(wall seconds, peak RSS in MB) of one ``predict --out`` child."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "forensic_viewer", "predict", str(folder), "--out", str(out),
         *extra],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _, usage = os.wait4(child.pid, 0)[1:]
    wall = time.perf_counter() - started
    return wall, int(usage.ru_maxrss / 1024)


def rows_without_timing(path: Path) -> dict[str, dict]:
    rows = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        row.pop("ms", None)
        rows[row["path"]] = row
    return rows


def throughput(files: int, workers: int) -> None:
    photos = sorted(CASIA.glob("authentic/*.jpg")) + sorted(CASIA.glob("tampered/*.jpg"))
    if len(photos) < files:
        sys.exit(f"need {files} CASIA photos in {CASIA}, found {len(photos)}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "photos")
        folder.mkdir()
        for photo in photos[:files]:
            (folder / photo.name).symlink_to(photo)
        one_wall, one_rss = predict(folder, Path(tmp, "one.jsonl"))
        ray_wall, ray_rss = predict(
            folder, Path(tmp, "ray.jsonl"), "--ray", "--ray-workers", str(workers)
        )
        same = rows_without_timing(Path(tmp, "one.jsonl")) == rows_without_timing(
            Path(tmp, "ray.jsonl")
        )
    print(f"| files | one process | Ray, {workers} local workers | ratio | same rows |")
    print("|---|---|---|---|---|")
    print(
        f"| {files} | {one_wall:.1f} s ({files / one_wall:.1f} img/s) | {ray_wall:.1f} s "
        f"({files / ray_wall:.1f} img/s, incl. Ray start) | {one_wall / ray_wall:.2f}x | {same} |"
    )


def small_jpegs(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    seed = folder / "seed.jpg"
    Image.fromarray(pixels).save(seed, quality=85)
    data = seed.read_bytes()
    seed.unlink()
    for index in range(count):
        # A comment segment makes each file's bytes (and SHA-256) different.
        marker = f"file {index}".encode()
        comment = b"\xff\xfe" + (len(marker) + 2).to_bytes(2, "big") + marker
        (folder / f"f{index:06d}.jpg").write_bytes(data[:2] + comment + data[2:])


def memory(small: int, large: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for count in (small, large):
            folder = Path(tmp, f"n{count}")
            small_jpegs(folder, count)
            wall, rss = predict(folder, Path(tmp, f"n{count}.jsonl"))
            lines = len(Path(tmp, f"n{count}.jsonl").read_text().splitlines())
            results.append((count, wall, rss, lines))
    print("| files | rows written | wall | peak RSS |")
    print("|---|---|---|---|")
    for count, wall, rss, lines in results:
        print(f"| {count} | {lines} | {wall:.0f} s | {rss} MB |")
    print(f"\npeak RSS ratio {results[1][2] / results[0][2]:.3f} (target: within 10%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--files", type=int, default=1000)
    t.add_argument("--workers", type=int, default=2)
    m = sub.add_parser("memory")
    m.add_argument("--small", type=int, default=1000)
    m.add_argument("--large", type=int, default=20000)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    if args.what == "throughput":
        throughput(args.files, args.workers)
    else:
        memory(args.small, args.large)


if __name__ == "__main__":
    main()
