"""Viewer budgets from issue 3, measured on this machine.

- start-up: process launch to the main window shown and painted (subprocess; target <= 1.0 s),
  with the import and construction split, and a check that torch was not imported;
- slider: release of the quality slider to the new full-resolution ELA set on the view for a
  12 MP image (target <= 150 ms), plus the first paint of it, and the longest GUI-thread stall
  while the slider is dragged (responsiveness);
- memory: peak RSS with one 24 MP image and its ELA (target <= 1 GB); 50 CASIA images in the
  filmstrip (thumbnails kept, full resolution only for the few most recent).

Images are mosaics of real CASIA photos (real photo detail, not noise). Each memory case runs in
its own process so peaks do not mix. Qt runs offscreen unless QT_QPA_PLATFORM says otherwise.

    .venv/bin/python bench/bench_ui.py [--repeats 7] [--only startup|slider|memory]
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
sys.path.insert(0, str(Path(__file__).resolve().parent))
from photos import mosaic  # noqa: E402


def write_mosaic_jpeg(folder: Path, width: int, height: int) -> Path:
    from PIL import Image

    path = folder / f"mosaic-{width}x{height}.jpg"
    if not path.exists():
        Image.fromarray(mosaic(width, height)).save(path, "JPEG", quality=92)
    return path


def child_env(config_dir: str) -> dict:
    env = dict(os.environ, XDG_CONFIG_HOME=config_dir, XDG_CACHE_HOME=config_dir)
    # A user's second launch finds the compiled bytecode of the first (the bundle ships it);
    # some sandboxes set this variable, which recompiles every module on every launch (~70 ms).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


# ---- start-up ------------------------------------------------------------------------------------
STARTUP_CHILD = """
import sys, time, json
t_imports = time.time()
from forensic_viewer.ui.app import create_application, create_window
t_imported = time.time()
app = create_application()
window = create_window([])
window.repaint()
app.processEvents()
t_visible = time.time()
print(json.dumps({"imported": t_imported - t_imports, "visible_at": t_visible,
                  "window": window.isVisible(), "torch": "torch" in sys.modules}))
"""


def bench_startup(repeats: int, config_dir: str) -> dict:
    launches, imports, torch_loaded = [], [], []
    for _ in range(repeats + 1):
        started = time.time()
        result = run_child(STARTUP_CHILD, [], config_dir)
        launches.append(result["visible_at"] - started)
        imports.append(result["imported"])
        torch_loaded.append(result["torch"])
    launches, imports = launches[1:], imports[1:]  # the first run warms the file cache
    return {
        "launch_to_visible_s_median": statistics.median(launches),
        "launch_to_visible_s_min": min(launches),
        "ui_imports_s_median": statistics.median(imports),
        "torch_imported": any(torch_loaded),
    }


# ---- slider --------------------------------------------------------------------------------------
def bench_slider(repeats: int, folder: Path) -> dict:
    from PySide6.QtCore import QElapsedTimer, QTimer

    from forensic_viewer.ui.app import create_application, wait_until_idle
    from forensic_viewer.ui.viewer.main_window import MainWindow

    path = write_mosaic_jpeg(folder, 4000, 3000)
    app = create_application()
    window = MainWindow()
    window.resize(1600, 1000)
    window.show()
    window.open_paths([path])
    wait_until_idle(window)
    slider = window.controls.quality_slider
    shown: list[float] = []
    worker_ms: list[float] = []
    window.elaShown.connect(lambda _frame: shown.append(time.perf_counter()))
    window.elaShown.connect(lambda frame: worker_ms.append(1000 * frame.seconds))

    to_view, to_paint = [], []
    qualities = [85, 75, 90, 80, 70, 95, 88, 60, 92, 78][: repeats + 1]
    for quality in qualities:
        shown.clear()
        slider.setSliderDown(True)
        slider.setValue(quality)  # while held: only the (throttled) drag path runs
        started = time.perf_counter()
        slider.setSliderDown(False)  # release: sliderReleased sends the value at once
        while not shown:
            app.processEvents()
            time.sleep(0.0005)
        set_at = shown[-1]
        window.views.ela.view.viewport().repaint()  # the first paint wraps the array in a QImage
        painted = time.perf_counter()
        to_view.append(set_at - started)
        to_paint.append(painted - started)
        wait_until_idle(window)
    to_view, to_paint = to_view[1:], to_paint[1:]

    # Drag for 2 s: one value every 16 ms (a hand at 60 Hz), and measure the longest stall of a
    # 5 ms timer on the GUI thread (what the user feels as a frozen window).
    stalls: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]

    def tick() -> None:
        now = clock.elapsed()
        stalls.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()
    slider.setSliderDown(True)
    value, step, end = 50, 1, time.perf_counter() + 2.0
    computed_before = len(shown)
    while time.perf_counter() < end:
        slider.setValue(value)
        value += step
        if value in (40, 99):
            step = -step
        frame_end = time.perf_counter() + 0.016
        while time.perf_counter() < frame_end:
            app.processEvents()
            time.sleep(0.001)
    slider.setSliderDown(False)
    timer.stop()
    wait_until_idle(window)
    result = {
        "image": "4000x3000 (12 MP)",
        "release_to_ela_set_ms_median": 1000 * statistics.median(to_view),
        "release_to_ela_set_ms_max": 1000 * max(to_view),
        "release_to_first_paint_ms_median": 1000 * statistics.median(to_paint),
        "of_which_in_worker_ms_median": statistics.median(worker_ms[1 : len(qualities)]),
        "elas_computed_during_2s_drag": len(shown) - computed_before,
        "longest_gui_stall_during_drag_ms": max(stalls) if stalls else None,
    }
    window.close()
    return result


# ---- memory --------------------------------------------------------------------------------------
MEMORY_24MP_CHILD = """
import json, resource, sys
from forensic_viewer.ui.app import create_application, wait_until_idle
from forensic_viewer.ui.viewer.main_window import MainWindow
from forensic_viewer.ui.viewer.document import ElaSettings
NO_MODEL
app = create_application()
window = MainWindow(); window.resize(1600, 1000); window.show()
window.open_paths([sys.argv[1]])
wait_until_idle(window)
after_open = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
window.session.set_settings(ElaSettings(quality=75)); wait_until_idle(window)
window.session.set_settings(ElaSettings(quality=75, grayscale=True)); wait_until_idle(window)
window.views.ela.view.viewport().repaint(); app.processEvents()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_after_open_mb": after_open / 1024, "peak_rss_mb": peak / 1024,
                  "cache_mb": window.session.cache.nbytes / 2**20}))
"""

MEMORY_FILMSTRIP_CHILD = """
import json, resource, sys
from pathlib import Path
from forensic_viewer.ui.app import create_application, wait_until_idle
from forensic_viewer.ui.viewer.main_window import MainWindow
files = sys.argv[1:]
NO_MODEL
app = create_application()
window = MainWindow(); window.resize(1600, 1000); window.show()
window.session.folder_cap = 1000
window.open_paths(files)
wait_until_idle(window, timeout_s=300)
s = window.session
for doc in s.documents[::7]:  # browse through them
    s.set_current(doc); wait_until_idle(window)
print(json.dumps({
    "images_open": len(s.documents),
    "images_with_full_resolution_in_memory": len(s.cache.image_ids()),
    "cache_mb": s.cache.nbytes / 2**20,
    "thumbnails_mb": sum(d.thumbnail.nbytes for d in s.documents) / 2**20,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


# The viewer's own memory: no model to find, so torch is never imported.
HIDE_MODELS = """
import tempfile
import forensic_viewer.ui.network.model_catalog as catalog
empty = tempfile.mkdtemp()
catalog.bundled_dir = lambda: __import__("pathlib").Path(empty)
"""


def run_child(code: str, args: list[str], config_dir: str, model: bool = True) -> dict:
    code = code.replace("NO_MODEL", "" if model else HIDE_MODELS)
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=True,
        env=child_env(config_dir),
        cwd=ROOT,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def bench_memory(folder: Path, config_dir: str) -> dict:
    big = write_mosaic_jpeg(folder, 6000, 4000)
    results = {}
    files = sorted(CASIA.glob("*/*.jpg"))[::13][:50]
    for model in (False, True):
        suffix = ", with the default model's verdict" if model else ", no model"
        results["24 MP image with its ELA" + suffix] = run_child(
            MEMORY_24MP_CHILD, [str(big)], config_dir, model
        )
        if len(files) == 50:
            results["50 CASIA images" + suffix] = run_child(
                MEMORY_FILMSTRIP_CHILD, [str(p) for p in files], config_dir, model
            )
        else:
            results["50 CASIA images" + suffix] = f"skipped: CASIA not found at {CASIA}"
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--only", choices=["startup", "slider", "memory"])
    args = parser.parse_args()
    qpa, load = os.environ["QT_QPA_PLATFORM"], os.getloadavg()[0]
    print(f"# {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"QT_QPA_PLATFORM={qpa}, load average {load:.1f}")  # fmt: skip
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp:
        folder, config = Path(tmp), str(Path(tmp) / "config")
        if args.only in (None, "startup"):
            results["startup"] = bench_startup(args.repeats, config)
        if args.only in (None, "slider"):
            results["slider"] = run_child(
                "import sys, json; sys.path.insert(0, 'bench'); import bench_ui; "
                f"print(json.dumps(bench_ui.bench_slider({args.repeats}, "
                f"bench_ui.Path({str(folder)!r}))))",
                [],
                config,
            )
        if args.only in (None, "memory"):
            results["memory"] = bench_memory(folder, config)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
