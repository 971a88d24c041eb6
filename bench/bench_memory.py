"""Does the viewer give memory back? RSS through two open / Close All cycles, and a huge PNG.

Issue 12, item 13. Each case runs the real window (offscreen) in its own process with the shipped
default model, and reads VmRSS from /proc at each point:

- idle with the model loaded;
- warm idle: after one photo was opened and closed (libraries loaded on first use, such as
  OpenCV, and the network's first forward pass stay: that is start-up cost, not a leak);
- ten 12 MP photos open (ELA, thumbnails and every verdict computed), then after Close All;
- the same a second time (a leak grows from cycle to cycle, an allocator's cache does not).

Target: RSS after Close All within 150 MB of idle (reported against both idle points).
Variants in the same run: ``as shipped``; ``no malloc_trim`` (Close All only collects garbage,
so glibc keeps its freed arenas); and with ``--before PATH``, a checkout of the code before the
fixes (same script, other PYTHONPATH).

The huge case opens one 169 MP PNG (13,000 x 13,000 mosaic of CASIA photos) and reports the peak
RSS, with the display limit and without it (``MAX_DISPLAY_PIXELS`` raised out of reach).

Photos: 4000 x 3000 JPEGs (q92) resized from the camera originals in ../shared/datasets/
camera-originals (a mosaic of CASIA photos when absent), written to a temporary folder.

    .venv/bin/python bench/bench_memory.py [--before PATH] [--skip-huge] [--score-all]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from photos import mosaic  # noqa: E402

CAMERA = Path(
    os.environ.get(
        "FORENSIC_VIEWER_CAMERA", ROOT.parent / "shared" / "datasets" / "camera-originals"
    )
)
PHOTO_SIZE = (4000, 3000)
HUGE_SIDE = 13_000

CHILD = r"""
import gc, json, os, resource, sys, time
mode, files = sys.argv[1], sys.argv[2:]
from forensic_viewer.ui.app import create_application, create_window, wait_until_idle

def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024)

if os.environ.get("BENCH_SCORE_ALL"):  # the network on every photo, whatever the card's domain
    from forensic_viewer.ui.network import verdict_jobs
    if hasattr(verdict_jobs, "before_model"):
        verdict_jobs.before_model = lambda facts, card: None
if mode == "no-trim":
    from forensic_viewer.ui.viewer import main_window
    main_window.release_memory = gc.collect
if mode == "no-display-limit":
    from forensic_viewer.ui.viewer import display
    display.MAX_DISPLAY_PIXELS = 10**12
app = create_application()
window = create_window([], size=(1440, 760))
window.verdicts.warm_up()

def settle(seconds=2.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)

assert wait_until_idle(window, 600)
settle()
points = {"idle, model loaded": rss_mb()}
cycles = 1 if mode in ("huge", "no-display-limit") else 2
if cycles == 2:  # one photo opened and closed: OpenCV, the ELA threads, the first forward pass
    window.open_paths(files[:1])
    assert wait_until_idle(window, 600), "timeout"
    window.session.close_all()
    assert wait_until_idle(window, 600)
    settle()
    points["warm idle (one photo opened and closed)"] = rss_mb()
for cycle in range(1, cycles + 1):
    window.open_paths(files)
    assert wait_until_idle(window, 1800), "timeout"
    settle()
    points[f"cycle {cycle}: open"] = rss_mb()
    window.session.close_all()
    assert wait_until_idle(window, 600)
    settle()
    points[f"cycle {cycle}: after Close All"] = rss_mb()
peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps({"points": points, "peak_rss_mb": peak}))
"""


def make_photos(folder: Path, count: int = 10) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted(CAMERA.glob("photos/*.jpg")) + sorted(CAMERA.glob("photos/*.JPG"))
    paths = []
    for index in range(count):
        path = folder / f"photo-{index:02d}-12mp.jpg"
        if not path.exists():
            if sources:
                with Image.open(sources[(index * 7) % len(sources)]) as image:
                    picture = image.convert("RGB").resize(PHOTO_SIZE, Image.Resampling.BICUBIC)
            else:
                picture = Image.fromarray(mosaic(*PHOTO_SIZE))
            picture.save(path, "JPEG", quality=92)
        paths.append(path)
    return paths


def make_huge_png(folder: Path) -> Path:
    from PIL import Image

    path = folder / f"huge-{HUGE_SIDE}x{HUGE_SIDE}.png"
    if not path.exists():
        Image.fromarray(mosaic(HUGE_SIDE, HUGE_SIDE)).save(path, "PNG", compress_level=1)
    return path


def run_child(mode: str, files: list[Path], pythonpath: Path, home: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(pythonpath), QT_QPA_PLATFORM="offscreen")
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        env[name] = str(Path(home) / mode / name)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode, *map(str, files)],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="a checkout of the code before the fixes")
    parser.add_argument("--skip-huge", action="store_true")
    parser.add_argument("--folder", type=Path, help="where the test photos are made (kept)")
    parser.add_argument(
        "--score-all",
        action="store_true",
        help="run the network on every photo (the default model declines camera photos as "
        "outside its validated domain, so without this no verdict is computed)",
    )
    parser.add_argument("--variants", default="shipped,no-trim", help="shipped,no-trim")
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.gettempdir()) / "forensic-viewer-bench-memory"
    folder.mkdir(parents=True, exist_ok=True)
    photos = make_photos(folder)
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "cycles": {}}
    with tempfile.TemporaryDirectory() as home:
        if args.score_all:
            os.environ["BENCH_SCORE_ALL"] = "1"
        wanted = args.variants.split(",")
        variants = [
            (name, mode, ROOT)
            for name, mode in (("as shipped", "shipped"), ("no malloc_trim", "no-trim"))
            if mode in wanted
        ]
        if args.before:
            variants.append(("before the fixes", "shipped", args.before.resolve()))
        for name, mode, code in variants:
            results["cycles"][name] = result = run_child(mode, photos, code, home)
            print(name, json.dumps(result), flush=True)
        if not args.skip_huge:
            huge = make_huge_png(folder)
            for name, mode in (("huge PNG", "huge"), ("huge PNG, no display limit",
                                                      "no-display-limit")):  # fmt: skip
                results[name] = result = run_child(mode, [huge], ROOT, home)
                print(name, json.dumps(result), flush=True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
