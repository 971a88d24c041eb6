"""CASIA images in the window: the classic ELA on screen, the screenshot mode, many images."""
# ruff: noqa: F811 - pytest fixtures imported from uihelp are parameters of the tests

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import casia_files, needs_casia
from PIL import Image
from uihelp import png_pixels, wait_idle, window  # noqa: F401

from forensic_viewer.core.ela import classic_ela_pillow
from forensic_viewer.ui.app import run_gui


@needs_casia
def test_casia_ela_on_screen_equals_the_classic_recipe(qtbot, window):
    files = casia_files("tampered", step=97)[:3]
    window.open_paths(files)
    wait_idle(qtbot, window)
    for doc, path in zip(window.session.documents, files, strict=True):
        window.session.set_current(doc)
        wait_idle(qtbot, window)
        classic = np.asarray(classic_ela_pillow(path, 90))
        np.testing.assert_array_equal(window.views.ela.image.image, classic)


@needs_casia
def test_screenshot_mode_waits_and_writes_a_png(qtbot, tmp_path):
    files = [str(p) for p in casia_files("tampered", step=211)[:2]]
    out = tmp_path / "shots" / "grid.png"
    assert run_gui(files, screenshot=str(out), view="grid") == 0
    shot = png_pixels(out)
    assert shot.ndim == 3 and shot.shape[0] > 300 and shot.shape[1] > 500
    assert len(np.unique(shot.reshape(-1, shot.shape[2]), axis=0)) > 50  # not a blank window
    assert not list(out.parent.glob(".*.tmp"))


@needs_casia
def test_fifty_images_keep_thumbnails_and_few_full_resolution(qtbot, window):
    files = casia_files("*", step=13)[:50]
    assert len(files) == 50
    window.session.folder_cap = 100
    window.open_paths(files)
    wait_idle(qtbot, window, timeout=60_000)
    session = window.session
    assert len(session.documents) == 50 and window.filmstrip.count() == 50
    assert all(
        d.thumbnail.shape[2] == 3 and max(d.thumbnail.shape[:2]) <= 160 for d in session.documents
    )
    resident = session.cache.image_ids()
    assert len(resident) <= session.cache.max_images
    assert session.current.id in resident
    # an evicted image comes back from disk when shown again
    evicted = next(d for d in session.documents if d.id not in resident)
    session.set_current(evicted)
    wait_idle(qtbot, window)
    with Image.open(evicted.path) as image:
        expected = np.asarray(image.convert("RGB"))
    np.testing.assert_array_equal(window.views.original.image.image, expected)
    assert window.messages.messages == []


@needs_casia
@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run not installed (xvfb)")
def test_screenshot_in_a_real_x_window_under_xvfb(tmp_path):
    """The command a user runs, with Qt's xcb platform on a virtual X screen (not offscreen)."""
    files = [str(p) for p in casia_files("tampered", step=211)[:2]]
    out = tmp_path / "xcb.png"
    env = dict(os.environ, QT_QPA_PLATFORM="xcb")
    env.pop("DISPLAY", None)
    result = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, "-m", "forensic_viewer"]
        + ["--screenshot", str(out), *files],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    shot = png_pixels(out)
    assert shot.shape[:2] == (760, 1440)
    assert len(np.unique(shot.reshape(-1, shot.shape[2]), axis=0)) > 50
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xcb.png"]
