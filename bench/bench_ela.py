"""ELA speed: the classic Pillow recipe, the one-thread codec floor and our ela(), in one run.

Images are mosaics of real CASIA photos (tiled, so the content is real photo detail, not noise)
at 1, 12 and 24 megapixels. Prints medians and ratios; paste the output into bench/README.md.

    .venv/bin/python bench/bench_ela.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import simplejpeg
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from photos import mosaic  # noqa: E402

from forensic_viewer.core.ela import classic_ela_pillow, ela  # noqa: E402

SIZES = {"1 MP": (1200, 800), "12 MP": (4000, 3000), "24 MP": (6000, 4000)}


def interleaved_medians(fns: dict, repeats: int) -> dict[str, float]:
    """Median ms of each function, run in turn round after round, so that load from other
    processes on this shared machine hits them all alike (the ratios are what is compared)."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


def classic(rgb: np.ndarray) -> None:
    classic_ela_pillow(Image.fromarray(rgb), 90)


def floor_one_thread(rgb: np.ndarray) -> None:
    """Bare libjpeg-turbo encode + decode at q=90 on one thread: the codec's own cost.

    simplejpeg encodes RGB directly (no colour swap, no copy); its bytes are not Pillow's, so
    ELA cannot use it, but it is the lowest one-thread cost of a JPEG round trip.
    """
    data = simplejpeg.encode_jpeg(
        rgb, quality=90, colorspace="RGB", colorsubsampling="420", fastdct=False
    )
    simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=False, fastupsample=False)


def exact_route_one_thread(rgb: np.ndarray) -> None:
    """The exact route's codec work as one strip: RGB->BGR, OpenCV encode, simplejpeg decode
    (the encode and decode run on one thread; OpenCV may split the colour swap)."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
    simplejpeg.decode_jpeg(data.tobytes(), colorspace="RGB", fastdct=False, fastupsample=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(
        f"# bench_ela  {time.strftime('%Y-%m-%d %H:%M')}  "
        f"{platform.processor() or platform.machine()}"
    )
    print(f"# cores={os.cpu_count()}  python={platform.python_version()}  repeats={args.repeats}")
    print(
        f"{'size':>6} {'classic ms':>11} {'floor 1T ms':>12} {'exact 1T ms':>12} "
        f"{'ela() ms':>9} {'vs classic':>11} {'vs floor':>9}  exact"
    )
    for label, (width, height) in SIZES.items():
        rgb = mosaic(width, height)
        ms = interleaved_medians(
            {
                "floor": lambda rgb=rgb: floor_one_thread(rgb),
                "route": lambda rgb=rgb: exact_route_one_thread(rgb),
                "classic": lambda rgb=rgb: classic(rgb),
                "ours": lambda rgb=rgb: ela(rgb, 90),
            },
            args.repeats,
        )
        floor, route, ref, ours = ms["floor"], ms["route"], ms["classic"], ms["ours"]
        exact = np.array_equal(
            ela(rgb, 90).rendering, np.asarray(classic_ela_pillow(Image.fromarray(rgb), 90))
        )
        print(
            f"{label:>6} {ref:11.1f} {floor:12.1f} {route:12.1f} {ours:9.1f} {ref / ours:10.2f}x "
            f"{floor / ours:8.2f}x  {exact}"
        )


if __name__ == "__main__":
    main()
