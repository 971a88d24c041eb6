"""Open image to verdict on screen (issue 4: at most 300 ms for a CASIA image), measured.

- warm: the window is up and the model was loaded by the warm-up (what a user sees after the
  window has been open for a couple of seconds). Time from ``open_paths`` (the drop) to the badge
  showing the result, and to the next paint; each round opens a CASIA image not seen before;
- cold: a fresh process opens an image at once, so the first verdict pays for importing torch
  and loading the model in the worker (subprocess, a few rounds);
- big: a 12-megapixel photo mosaic: verdict on the bounded tile budget (and the heatmap colour),
  plus peak RSS of a process holding a 24-megapixel image, its ELA and its verdict.

The model is models/default.safetensors when it exists, else random weights with the shipped
'ghost' recipe (same network and inputs, so the same cost). Qt runs offscreen unless told.

    .venv/bin/python bench/bench_verdict.py [--rounds 15] [--cold 3] [--only warm|cold|big]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CASIA = Path(os.environ.get("FORENSIC_VIEWER_CASIA", ROOT.parent / "shared/datasets/casia1"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def model_path(folder: Path) -> Path:
    default = ROOT / "models" / "default.safetensors"
    if default.is_file():
        return default
    path = folder / "ghost-random.safetensors"
    if not path.exists():
        import torch

        from forensic_viewer.ml.model import ElaCnn
        from forensic_viewer.ml.modelfile import ModelCard, save_model
        from forensic_viewer.ml.preprocess import GHOST

        torch.manual_seed(0)
        card = ModelCard(name="ghost-random (bench only)", recipe=GHOST.as_dict())
        save_model(path, ElaCnn(), card, half=True)
    return path


def casia_images(count: int) -> list[Path]:
    files = sorted(CASIA.glob("tampered/*.jpg")) + sorted(CASIA.glob("authentic/*.jpg"))
    if not files:
        raise SystemExit(f"CASIA not found at {CASIA}")
    return files[:: max(1, len(files) // count)][:count]


def mosaic_jpeg(folder: Path, width: int, height: int) -> Path:
    from PIL import Image

    path = folder / f"mosaic-{width}x{height}.jpg"
    if path.exists():
        return path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from photos import mosaic

    canvas = mosaic(width, height)
    Image.fromarray(canvas).save(path, "JPEG", quality=92)
    return path


def new_window(model: Path):
    from forensic_viewer.ui.app import create_application
    from forensic_viewer.ui.viewer.main_window import MainWindow

    app = create_application()
    window = MainWindow()
    window.resize(1600, 1000)
    window.show()
    window.choose_model(model)
    return app, window


def wait_for(app, condition, timeout: float = 300.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("timed out")
        app.processEvents()
        time.sleep(0.0005)


def verdict_round(app, window, path: Path) -> dict:
    """Open ``path`` and time until its verdict is on the badge (and painted)."""
    shown: list[float] = []

    def on_verdict(doc):
        if doc.path == path and window.badge.state == "result":
            shown.append(time.perf_counter())

    window.verdicts.verdictReady.connect(on_verdict)
    started = time.perf_counter()
    window.open_paths([path])
    wait_for(app, lambda: bool(shown))
    window.badge.repaint()
    painted = time.perf_counter()
    window.verdicts.verdictReady.disconnect(on_verdict)
    outcome = window.verdicts.outcome(window.session.current)
    wait_for(app, window.is_idle)
    return {
        "to_badge_ms": 1000 * (shown[0] - started),
        "to_paint_ms": 1000 * (painted - started),
        "worker_ms": 1000 * outcome.seconds,
        "tiles": outcome.tiles,
    }


def bench_warm(rounds: int, model: Path) -> dict:
    app, window = new_window(model)
    wait_for(app, lambda: window.verdicts.state == "ready")  # what the warm-up does
    files = casia_images(rounds + 1)
    results = [verdict_round(app, window, path) for path in files]
    results = results[1:]  # the first round warms the code paths
    window.close()
    badge = sorted(r["to_badge_ms"] for r in results)
    return {
        "images": len(results),
        "open_to_verdict_on_badge_ms_median": round(statistics.median(badge), 1),
        "open_to_verdict_on_badge_ms_p90": round(badge[int(0.9 * (len(badge) - 1))], 1),
        "open_to_verdict_on_badge_ms_min": round(badge[0], 1),
        "open_to_painted_ms_median": round(statistics.median(r["to_paint_ms"] for r in results), 1),
        "worker_ms_median": round(statistics.median(r["worker_ms"] for r in results), 1),
        "tiles_per_image": sorted({r["tiles"] for r in results}),
    }


COLD_CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
import bench.bench_verdict as b
t0 = time.perf_counter()
app, window = b.new_window(Path({model!r}))
result = b.verdict_round(app, window, Path({image!r}))
result["window_ms"] = 1000 * (time.perf_counter() - t0) - result["to_paint_ms"]
print(json.dumps(result))
"""


def bench_cold(rounds: int, model: Path, config: str) -> dict:
    results = []
    for image in casia_images(rounds):
        child = COLD_CHILD.format(root=str(ROOT), model=str(model), image=str(image))
        env = dict(os.environ, XDG_CONFIG_HOME=config, XDG_CACHE_HOME=config)
        out = subprocess.run(
            [sys.executable, "-c", child], capture_output=True, text=True, check=True, env=env
        ).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    return {
        "images": len(results),
        "first_open_to_verdict_ms_median": round(
            statistics.median(r["to_badge_ms"] for r in results), 1
        ),
        "first_open_to_verdict_ms_all": [round(r["to_badge_ms"]) for r in results],
    }


BIG_CHILD = """
import json, resource, sys
sys.path.insert(0, {root!r})
from pathlib import Path
import bench.bench_verdict as b
app, window = b.new_window(Path({model!r}))
b.wait_for(app, lambda: window.verdicts.state == "ready")
result = b.verdict_round(app, window, Path({image!r}))
window.set_heatmap(True)
b.wait_for(app, lambda: window.heat_layer.overlay is not None)
b.wait_for(app, window.is_idle)
result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
result["exact"] = window.verdicts.outcome(window.session.current).exact
result["stride"] = window.verdicts.outcome(window.session.current).tile_stride
print(json.dumps(result))
"""


def bench_big(model: Path, folder: Path, config: str) -> dict:
    results = {}
    for width, height in ((4000, 3000), (6000, 4000)):
        image = mosaic_jpeg(folder, width, height)
        child = BIG_CHILD.format(root=str(ROOT), model=str(model), image=str(image))
        env = dict(os.environ, XDG_CONFIG_HOME=config, XDG_CACHE_HOME=config)
        out = subprocess.run(
            [sys.executable, "-c", child], capture_output=True, text=True, check=True, env=env
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        results[f"{width * height / 1e6:.0f}MP"] = {
            "open_to_verdict_ms": round(r["to_badge_ms"]),
            "worker_ms": round(r["worker_ms"]),
            "tiles": r["tiles"],
            "tile_stride": r["stride"],
            "exact": r["exact"],
            "peak_rss_mb_with_heatmap": round(r["peak_rss_mb"]),
        }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--cold", type=int, default=3)
    parser.add_argument("--only", choices=("warm", "cold", "big"))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-verdict-"))
    config = str(folder / "config")
    os.environ["XDG_CONFIG_HOME"] = config  # never the user's settings
    model = model_path(folder)
    results: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "model": str(model),
    }
    if args.only in (None, "warm"):
        results["warm"] = bench_warm(args.rounds, model)
    if args.only in (None, "cold"):
        results["cold"] = bench_cold(args.cold, model, config)
    if args.only in (None, "big"):
        results["big"] = bench_big(model, folder, config)
    results["load_after"] = round(os.getloadavg()[0], 1)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
