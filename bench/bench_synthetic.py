"""Synthetic tampering generator speed: seconds per tampered/authentic pair on one core.

Issue 9 asks that a DataLoader worker can make pairs on the fly (aim: < 0.3 s per pair at
max_side=512 on one core). The reference, measured in the same run on the same photos, is the
floor any generator pays: decoding the target and the donor from their camera files and saving
one crop twice. Photos are the camera originals (1-16 MP), each a target once (cold decode cache,
as in a worker that visits photos in random order).

    .venv/bin/python bench/bench_synthetic.py [--photos N] [--max-side 512]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("OMP_NUM_THREADS", "1")
import cv2  # noqa: E402

from forensic_viewer.ml import synthetic  # noqa: E402

cv2.setNumThreads(1)  # one core, as in one DataLoader worker


def floor_once(photos, index: int, max_side: int) -> None:
    photo, donor = photos[index], photos[(index + 1) % len(photos)]
    target = synthetic.decode_jpeg(photo.path.read_bytes())
    synthetic.decode_jpeg(donor.path.read_bytes())
    crop = target[:max_side, :max_side]
    settings = synthetic.SaveSettings(90, "4:2:0", False)
    synthetic.encode_jpeg(crop, settings)
    synthetic.encode_jpeg(crop, settings)


def generate_once(photos, index: int, max_side: int) -> None:
    synthetic._decoded.cache_clear()  # cold, like a worker meeting a new photo
    kinds = (*synthetic.TAMPERED_KINDS, "pair_authentic")
    made = list(
        synthetic.generate([photos[index]], index, max_side=max_side, kinds=kinds, donors=photos)
    )
    assert len(made) == 2


def timed(function, *args) -> tuple[float, float]:
    """(wall seconds, this thread's CPU seconds): on a shared machine the CPU time is the
    load-independent figure."""
    wall, cpu = time.perf_counter(), time.thread_time()
    function(*args)
    return time.perf_counter() - wall, time.thread_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=30)
    parser.add_argument("--max-side", type=int, default=512)
    parser.add_argument("--folder", default=str(ROOT.parent / "shared/datasets/camera-originals"))
    args = parser.parse_args()
    photos = synthetic.find_photos(args.folder)
    photos = photos[:: max(1, len(photos) // args.photos)][: args.photos]
    results = {"floor (2 decodes + 2 saves)": [], "generate() pair": []}
    for index in range(len(photos)):  # interleaved, alternating order: load hits both alike
        order = [("floor (2 decodes + 2 saves)", floor_once), ("generate() pair", generate_once)]
        for name, function in order if index % 2 == 0 else order[::-1]:
            results[name].append(timed(function, photos, index, args.max_side))
    print(f"{len(photos)} photos, max_side={args.max_side}, one thread")
    medians = {}
    for name, values in results.items():
        wall = [v[0] for v in values]
        cpu = [v[1] for v in values]
        medians[name] = statistics.median(cpu)
        print(
            f"{name:30s} CPU median {statistics.median(cpu):.3f} s  max {max(cpu):.3f} s | "
            f"wall median {statistics.median(wall):.3f} s  max {max(wall):.3f} s"
        )
    floor, made = medians.values()
    print(f"generator / floor (CPU medians): {made / floor:.2f}x")


if __name__ == "__main__":
    main()
