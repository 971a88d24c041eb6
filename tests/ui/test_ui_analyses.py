"""The generic analysis tab: one registration gives a tab with its parameters that runs; Cancel,
stale results, linked zoom, 'does not apply', remembered parameters."""
# ruff: noqa: F811 - pytest fixtures imported from uihelp are parameters of the tests

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QSpinBox
from uihelp import images, jpeg_pixels, png_pixels, shown_window, wait_idle  # noqa: F401

from forensic_viewer.core.analyses import REGISTRY, AnalysisResult, Finding, Param, check_cancel
from forensic_viewer.ui.viewer.main_window import MainWindow

BLOCK = 8


class Fake:
    """Brightness of each 8x8 block's mean, times ``gain``; a mask on the left half; one line."""

    name = "fake"
    title = "Fake & test"
    help = "Shows block means. Failure mode: it is a test."
    params = (
        Param("gain", "Gain", "float", 1.0, 0.0, 4.0, help="multiplies the map"),
        Param("block", "Block", "int", BLOCK, 4, 32, help="block size in pixels"),
        Param("colour", "Colour", "choice", "grey", choices=("grey", "red"), help="map colour"),
        Param("mask", "Mask", "bool", False, help="mark the left half"),
    )

    def __init__(self) -> None:
        self.calls: list[tuple[int, dict]] = []  # (image width, params)
        self.gate: threading.Event | None = None  # when set, runs wait for it (cancel polled)
        self.entered = threading.Event()
        self.only_wide = False
        self.honour_cancel = True
        self.gate_width: int | None = None  # gate only images this wide (None: all)
        self.no_map = False  # findings only (as the thumbnail view of a file without one)

    def applies_to(self, image):
        if self.only_wide and image.pixels.shape[1] < 110:
            return "narrower than 110 px"
        return None

    def run(self, image, params, progress, cancel):
        self.calls.append((image.pixels.shape[1], dict(params)))
        self.entered.set()
        if self.gate is not None and self.gate_width in (None, image.pixels.shape[1]):
            while not self.gate.is_set():
                if self.honour_cancel:
                    check_cancel(cancel)
                time.sleep(0.01)
        if self.honour_cancel:
            check_cancel(cancel)
        progress(0.5)
        return AnalysisResult(
            image=None if self.no_map else expected_map(image.pixels, params),
            cell=params["block"],
            mask=left_half(image.pixels) if params["mask"] else None,
            lines=[(1.0, 1.0, 20.0, 10.0)] if params["mask"] else [],
            score=float(image.pixels.shape[1]),
            findings=[Finding(f"width {image.pixels.shape[1]}", "warning")],
            data={"score_meaning": "the image width", "width": int(image.pixels.shape[1])},
            extra_images={"half": image.pixels[::2, ::2].copy()},
        )


def expected_map(pixels: np.ndarray, params: dict) -> np.ndarray:
    block = params["block"]
    h, w = pixels.shape[0] // block, pixels.shape[1] // block
    gray = pixels[: h * block, : w * block].mean(axis=2)
    means = gray.reshape(h, block, w, block).mean(axis=(1, 3)) / 255.0
    return np.clip(means * params["gain"], 0, 1).astype(np.float32)


def left_half(pixels: np.ndarray) -> np.ndarray:
    mask = np.zeros(pixels.shape[:2], bool)
    mask[:, : pixels.shape[1] // 2] = True
    return mask


@pytest.fixture
def fake(monkeypatch):
    analysis = Fake()
    monkeypatch.setitem(REGISTRY, "fake", analysis)  # one registration, nothing else
    return analysis


@pytest.fixture
def window(qtbot, monkeypatch, tmp_path_factory, fake):
    win = shown_window(qtbot, monkeypatch, tmp_path_factory)
    yield win
    if fake.gate is not None:
        fake.gate.set()
    win.close()


def rendered(pixels: np.ndarray, params: dict, mask: bool = False) -> np.ndarray:
    from forensic_viewer.core.analyses.render import render_result

    result = AnalysisResult(image=expected_map(pixels, params), cell=params["block"])
    if mask:
        result.mask, result.lines = left_half(pixels), [(1.0, 1.0, 20.0, 10.0)]
    return render_result(result, pixels)


def test_a_registered_analysis_gets_a_tab_with_its_params_and_runs(qtbot, window, fake, images):
    tab = window.analysis_tabs["fake"]
    index = window.tab_names.index("fake")
    assert window.tabs.tabText(index) == "Fake && test"  # '&' shown, not a mnemonic
    assert window.tabs.tabToolTip(index) == f"Shows block means. (Ctrl+Alt+{index + 1})"
    assert window.actions.tab_actions["fake"].shortcut().toString() == f"Ctrl+Alt+{index + 1}"
    controls = tab.form.controls
    assert [type(controls[n]) for n in ("gain", "block", "colour", "mask")] == [
        QDoubleSpinBox,
        QSpinBox,
        QComboBox,
        QCheckBox,
    ]
    assert (controls["block"].minimum(), controls["block"].maximum()) == (4, 32)
    assert controls["gain"].toolTip() == "multiplies the map"
    assert tab.help.text() == Fake.help
    window.open_paths([images[1]])
    wait_idle(qtbot, window)
    assert fake.calls == []  # hidden tabs do not compute
    window.actions.tab_actions["fake"].trigger()
    assert window.current_tab() == "fake"
    wait_idle(qtbot, window)
    pixels = jpeg_pixels(images[1])
    defaults = {"gain": 1.0, "block": 8, "colour": "grey", "mask": False}
    assert fake.calls == [(112, defaults)]
    np.testing.assert_array_equal(tab.result_pane.image.image, rendered(pixels, defaults))
    assert tab.frame.extras["half"].shape == (32, 56, 3)
    assert tab.extra_panes["half"].header.text() == "half   56 x 32"
    assert tab.score.text() == "Score 112: the image width"
    assert "width 112" in tab.findings.text() and "#e67e22" in tab.findings.text()
    assert tab.overlay_box.isHidden()

    tab.form.controls["mask"].setChecked(True)  # re-runs after the debounce pause
    tab.form.controls["gain"].setValue(2.0)
    wait_idle(qtbot, window)
    changed = {**defaults, "gain": 2.0, "mask": True}
    assert fake.calls[1:] == [(112, changed)]  # one run for both edits
    np.testing.assert_array_equal(tab.result_pane.image.image, rendered(pixels, changed, mask=True))
    tab.overlay_box.setChecked(False)
    np.testing.assert_array_equal(tab.result_pane.image.image, rendered(pixels, changed))
    # remembered per analysis: a new window starts with them
    window.close()
    second = MainWindow()
    qtbot.addWidget(second)
    assert second.analysis_tabs["fake"].params() == changed
    assert second.current_tab() == "fake"
    second.close()


def test_cancel_stops_a_slow_analysis_and_run_computes_again(qtbot, window, fake, images):
    fake.gate = threading.Event()
    window.show_tab("fake")
    window.open_paths([images[0]])
    qtbot.waitUntil(fake.entered.is_set, timeout=20_000)
    tab = window.analysis_tabs["fake"]
    assert tab.cancel_button.isEnabled() and not tab.is_complete()
    tab.cancel_button.click()
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=5_000)
    qtbot.waitUntil(lambda: tab.status.text().startswith("Cancelled"), timeout=5_000)
    assert tab.frame is None and tab.result_pane.image.image is None
    assert not fake.gate.is_set()  # it stopped on its own cancel check, not by finishing
    fake.gate.set()
    qtbot.wait(100)
    assert len(fake.calls) == 1  # a cancelled run is not restarted by itself
    tab.run_button.click()
    qtbot.waitUntil(lambda: tab.frame is not None, timeout=20_000)
    assert len(fake.calls) == 2 and tab.frame.result.score == 96.0


def test_a_result_for_the_previous_image_is_dropped(qtbot, window, fake, images):
    fake.gate = threading.Event()
    fake.honour_cancel = False  # as if its result were already on its way when the image changed
    fake.gate_width = 96  # only the first image's run waits
    window.show_tab("fake")
    window.open_paths(images[:2])
    qtbot.waitUntil(fake.entered.is_set, timeout=20_000)
    tab = window.analysis_tabs["fake"]
    assert fake.calls[0][0] == 96
    window.step(1)  # the next image while the first one's run is still going
    qtbot.waitUntil(lambda: window.session.current.path == images[1], timeout=5_000)
    qtbot.waitUntil(lambda: tab.frame is not None, timeout=20_000)  # the second image's result
    assert tab.frame.result.score == 112.0 and tab.generation.dropped == 0
    fake.gate.set()  # the first run completes, late
    qtbot.waitUntil(lambda: tab.generation.dropped == 1, timeout=20_000)
    wait_idle(qtbot, window)
    assert [width for width, _ in fake.calls] == [96, 112]
    assert tab.frame.result.score == 112.0
    assert tab.result_pane.image.image.shape[1] == 112


def test_the_result_follows_the_originals_zoom_and_pan(qtbot, window, fake, images):
    window.show_tab("fake")
    window.open_paths([images[2]])
    wait_idle(qtbot, window)
    tab = window.analysis_tabs["fake"]
    tab.original.set_zoom(3.0, QPointF(40.0, 20.0))
    assert tab.result_pane.zoom() == pytest.approx(3.0, rel=1e-6)
    centre = tab.result_pane.viewbox.viewRect().center()
    assert (centre.x(), centre.y()) == pytest.approx((40.0, 20.0), abs=1e-6)
    tab.zoom_in()  # View > Zoom In on this tab
    assert tab.result_pane.zoom() == pytest.approx(3.0 * 2**0.5, rel=1e-6)
    # the ELA tab picks up the zoom and centre of the tab left
    window.show_tab("ela")
    qtbot.waitUntil(lambda: abs(window.views.original.zoom() - 3.0 * 2**0.5) < 1e-6, timeout=5000)
    centre = window.views.original.viewbox.viewRect().center()
    assert (centre.x(), centre.y()) == pytest.approx((40.0, 20.0), abs=1e-6)


def test_the_reason_is_shown_instead_of_running(qtbot, window, fake, images):
    fake.only_wide = True
    window.show_tab("fake")
    window.open_paths([images[0]])
    wait_idle(qtbot, window)
    tab = window.analysis_tabs["fake"]
    assert fake.calls == []
    assert tab.status.text() == "Does not apply to this image: narrower than 110 px"
    assert tab.result_pane.image.image is None
    window.open_paths([images[1]])
    wait_idle(qtbot, window)
    assert [width for width, _ in fake.calls] == [112]
    assert tab.reason is None and tab.frame.result.score == 112.0
    assert tab.result_pane.image.image.shape == (64, 112, 3)
    fake.no_map = True  # a result without a map shows no picture (not the original)
    tab.run_button.click()
    wait_idle(qtbot, window)
    assert tab.result_pane.image.image is None
    assert tab.result_pane.header.text() == "Fake & test   score 112   (no map for this image)"


def test_the_ela_and_grid_tabs_compute_through_the_registry(qtbot, window, images, monkeypatch):
    from forensic_viewer.core import ela as ela_maths

    calls = []
    ela_type, grid_type = type(REGISTRY["ela"]), type(REGISTRY["grid"])

    class CountingEla(ela_type):
        @staticmethod
        def difference(pixels, quality):
            calls.append(("ela", quality))
            return ela_type.difference(pixels, quality)

    class CountingGrid(grid_type):
        def cells(self, pixels, qualities, scale, grayscale):
            calls.append(("grid", tuple(qualities)))
            yield from grid_type.cells(pixels, qualities, scale, grayscale)

    monkeypatch.setitem(REGISTRY, "ela", CountingEla())
    monkeypatch.setitem(REGISTRY, "grid", CountingGrid())
    window.open_paths([images[0]])
    wait_idle(qtbot, window)
    with qtbot.waitSignal(window.grid.completed, timeout=20_000):
        window.show_tab("grid")
    assert calls == [("ela", 90), ("grid", (60, 70, 80, 90, 95, 100))]
    pixels = jpeg_pixels(images[0])
    np.testing.assert_array_equal(window.views.ela_array(), ela_maths.ela(pixels, 90).rendering)
    np.testing.assert_array_equal(
        window.grid.cells[70].rendering, ela_maths.ela(pixels, 70).rendering
    )


def test_export_writes_every_registered_analysis(qtbot, window, fake, images, tmp_path):
    import json

    from forensic_viewer.core import ela as ela_maths

    window.show_tab("fake")
    window.open_paths([images[1]])
    wait_idle(qtbot, window)
    assert len(fake.calls) == 1
    out = tmp_path / "exports"
    out.mkdir()
    # the plain report carries what is computed so far: only the fake analysis
    report = json.loads(window.actions.export("report", out / "plain.json").read_text())
    assert list(report["analyses"]) == ["fake"]
    assert report["analyses"]["fake"]["data"] == {"score_meaning": "the image width", "width": 112}

    worker = window.analyses_export.start(out)
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        pass
    assert len(fake.calls) == 1  # the shown result is reused, not computed again
    report = json.loads((out / "img1.report.json").read_text())
    assert list(report["analyses"]) == list(REGISTRY)
    for name, block in report["analyses"].items():
        assert block["applies"] is True, (name, block["reason"])
        assert set(block) >= {"title", "params", "score", "findings", "data"}
        if name == "thumbnail":  # these JPEGs have no EXIF thumbnail: no map, only metadata
            assert block["png"] is None and block["data"]["thumbnail"] == {"present": False}
            continue
        assert block["png"] == f"img1.{name}.png"
        assert png_pixels(out / block["png"]).shape == (64, 112, 3)
    pixels = jpeg_pixels(images[1])
    fake_block = report["analyses"]["fake"]
    assert fake_block["score"] == 112.0
    assert fake_block["params"] == {"gain": 1.0, "block": 8, "colour": "grey", "mask": False}
    assert fake_block["findings"] == [{"text": "width 112", "severity": "warning"}]
    assert fake_block["extra_pngs"] == {"half": "img1.fake.half.png"}
    np.testing.assert_array_equal(
        png_pixels(out / "img1.fake.png"), rendered(pixels, fake_block["params"])
    )
    np.testing.assert_array_equal(png_pixels(out / "img1.fake.half.png"), pixels[::2, ::2])
    expected = ela_maths.ela(pixels, 90)  # the window's ELA settings (classic in these tests)
    np.testing.assert_array_equal(png_pixels(out / "img1.ela.png"), expected.rendering)
    assert report["analyses"]["ela"]["data"]["max_diff"] == expected.max_diff
    assert report["analyses"]["grid"]["extra_pngs"]["q60"] == "img1.grid.q60.png"
    written = {p.name for p in window.analyses_export.written}
    assert written == {p.name for p in out.iterdir()} - {"plain.json"}
    assert window.messages.messages == []


def test_export_refuses_the_evidence_folder(qtbot, window, fake, images):
    window.open_paths([images[0]])
    wait_idle(qtbot, window)
    assert window.analyses_export.start(images[0].parent) is None
    assert "refusing to write into the evidence folder" in window.messages.messages[-1]
    assert sorted(p.name for p in images[0].parent.iterdir()) == [
        "img0.jpg",
        "img1.jpg",
        "img2.jpg",
    ]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_stored_position_inverts_the_exif_orientation(orientation):
    from forensic_viewer.core.images import orient
    from forensic_viewer.ui.analyses.analysis_jobs import stored_position

    height, width = 5, 7
    index = np.arange(height * width).reshape(height, width)
    shown = orient(index, orientation)
    for row in range(shown.shape[0]):
        for col in range(shown.shape[1]):
            c, r = stored_position(col, row, orientation, width, height)
            assert index[r, c] == shown[row, col]


def test_the_status_bar_shows_the_map_under_the_mouse(qtbot, window, fake, images):
    window.show_tab("fake")
    window.open_paths([images[1]])
    wait_idle(qtbot, window)
    tab = window.analysis_tabs["fake"]
    tab.set_params({"mask": True})
    wait_idle(qtbot, window)
    pixels = jpeg_pixels(images[1])
    value = expected_map(pixels, tab.params())[2, 3]  # block row 2, column 3 (8 px blocks)
    tab.result_pane.hovered.emit(27.5, 17.2)  # column 27, row 17: in the fake's left-half mask
    r, g, b = pixels[17, 27]
    assert window.status_position.text() == (
        f"x 27  y 17   RGB {r} {g} {b}   Fake & test: map {value:.3f}   marked region"
    )
    tab.result_pane.hovered.emit(60.0, 17.0)  # the right half: no mask
    right = expected_map(pixels, tab.params())[2, 7]
    assert window.status_position.text().endswith(f"RGB {' '.join(map(str, pixels[17, 60]))}"
                                                  f"   Fake & test: map {right:.3f}")  # fmt: skip
    tab.result_pane.hovered.emit(float("nan"), float("nan"))  # left the view
    assert window.status_position.text() == ""


def test_remembered_params_fall_back_to_defaults_when_no_longer_valid():
    from forensic_viewer.ui.analyses.analysis_jobs import load_params, save_params

    class Store(dict):
        def value(self, key, default=None):
            return self.get(key, default)

        def setValue(self, key, value):  # noqa: N802 - QSettings' name
            self[key] = value

    store = Store()
    save_params(store, Fake, {"gain": 2.5, "block": 16, "colour": "red", "mask": True})
    assert store["analyses/fake/mask"] == "true"
    assert load_params(store, Fake) == {"gain": 2.5, "block": 16, "colour": "red", "mask": True}
    # as an INI file returns them: strings, some hand-edited out of range or unknown
    store.update({"analyses/fake/gain": "9.5", "analyses/fake/block": "12",
                  "analyses/fake/colour": "blue", "analyses/fake/mask": "false"})  # fmt: skip
    assert load_params(store, Fake) == {"gain": 1.0, "block": 12, "colour": "grey", "mask": False}
