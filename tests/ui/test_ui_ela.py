"""ELA in the window: exact pixels, slider recompute, stale results dropped, zoom sync, status."""
# ruff: noqa: F811 - pytest fixtures imported from uihelp are parameters of the tests

from __future__ import annotations

import math

import numpy as np
from PIL import Image
from PySide6.QtCore import QPointF, Qt
from uihelp import images, jpeg_pixels, photo, wait_idle, window, write_jpeg  # noqa: F401

from forensic_viewer.core.ela import ela, ela_difference, render
from forensic_viewer.core.images import orient
from forensic_viewer.ui.network.verdict_badge import COLOURS, MEANING, NUMBERS_HELP
from forensic_viewer.ui.viewer.document import ElaSettings, Verdict
from forensic_viewer.ui.viewer.session import ElaFrame


def open_one(qtbot, window, path):
    window.open_paths([path])
    wait_idle(qtbot, window)
    return window.session.current


def test_first_ela_is_the_classic_one(qtbot, window, images):
    open_one(qtbot, window, images[0])
    pixels = jpeg_pixels(images[0])
    expected = ela(pixels, 90)
    shown = window.views.ela.image.image
    np.testing.assert_array_equal(shown, expected.rendering)
    frame = window.session.last_frame
    assert (frame.max_diff, frame.gain) == (expected.max_diff, expected.gain)
    assert window.views.ela.header.text().startswith("ELA   q 90   auto x")
    assert window.status_size.text() == "96 x 64 px"
    assert window.status_time.text().startswith("ELA ") and window.status_time.text().endswith(
        " ms"
    )


def test_slider_change_recomputes_the_ela(qtbot, window, images):
    open_one(qtbot, window, images[1])
    pixels = jpeg_pixels(images[1])
    slider = window.controls.quality_slider
    with qtbot.waitSignal(window.elaShown, timeout=10_000) as blocker:
        slider.setValue(63)  # a keyboard/programmatic step is sent at once
    frame: ElaFrame = blocker.args[0]
    assert frame.settings.quality == 63 and frame.recomputed
    assert window.controls.quality_spin.value() == 63
    expected, _gain = render(ela_difference(pixels, 63))
    np.testing.assert_array_equal(window.views.ela.image.image, expected)
    assert window.session.settings.quality == 63


def test_spin_box_change_is_debounced_then_applied(qtbot, window, images):
    open_one(qtbot, window, images[0])
    shown = []
    window.elaShown.connect(lambda f: shown.append(f.settings.quality))
    for value in (70, 71, 72):
        window.controls.quality_spin.setValue(value)
    assert window.controls.is_settling()
    qtbot.waitUntil(lambda: shown == [72], timeout=5000)
    qtbot.wait(100)
    assert shown == [72]  # the intermediate values were never computed


def test_brightness_change_rerenders_without_a_new_jpeg_round_trip(qtbot, window, images):
    open_one(qtbot, window, images[0])
    pixels = jpeg_pixels(images[0])
    controls = window.controls
    with qtbot.waitSignal(window.elaShown, timeout=10_000) as blocker:
        controls.auto_brightness.setChecked(False)
    frame = blocker.args[0]
    assert not frame.recomputed and frame.gain == 20.0
    with qtbot.waitSignal(window.elaShown, timeout=10_000) as blocker:
        controls.grayscale.setChecked(True)
    frame = blocker.args[0]
    expected, _ = render(ela_difference(pixels, 90), 20.0, grayscale=True)
    assert not frame.recomputed
    assert frame.rendering.shape == pixels.shape[:2]
    np.testing.assert_array_equal(window.views.ela.image.image, expected)


def test_a_stale_result_is_dropped(qtbot, window, images):
    open_one(qtbot, window, images[2])
    session = window.session
    received = []
    session.elaReady.connect(lambda f: received.append(f.settings.quality))
    dropped_before = session.view_generation.dropped
    # Two requests in the same event-loop turn: the first result can only arrive after the second
    # request, so it must be dropped whatever the thread timing.
    session.set_settings(ElaSettings(quality=50, auto_scale="classic"))
    session.set_settings(ElaSettings(quality=60, auto_scale="classic"))
    qtbot.waitUntil(lambda: received == [60] and session.is_idle(), timeout=10_000)
    qtbot.wait(50)
    assert received == [60]
    assert session.view_generation.dropped == dropped_before + 1
    expected, _ = render(ela_difference(jpeg_pixels(images[2]), 60))
    np.testing.assert_array_equal(window.views.ela.image.image, expected)


def test_switching_images_quickly_shows_only_the_last(qtbot, window, images):
    window.open_paths(images)
    wait_idle(qtbot, window)
    shown = []
    window.elaShown.connect(lambda f: shown.append(f.doc_id))
    docs = window.session.documents
    for doc in (docs[1], docs[0], docs[2]):
        window.session.set_current(doc)
    wait_idle(qtbot, window)
    assert shown == [docs[2].id]
    np.testing.assert_array_equal(window.views.original.image.image, jpeg_pixels(images[2]))


def test_exif_orientation_is_applied_to_both_views(qtbot, window, tmp_path):
    stored = photo(80, 48, seed=5)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    path = write_jpeg(tmp_path / "ev" / "rotated.jpg", stored, quality=90, exif=exif)
    open_one(qtbot, window, path)
    pixels = jpeg_pixels(path)
    np.testing.assert_array_equal(window.views.original.image.image, orient(pixels, 6))
    np.testing.assert_array_equal(window.views.ela.image.image, orient(ela(pixels).rendering, 6))
    assert window.views.original.image.image.shape[:2] == (80, 48)
    assert window.status_size.text() == "48 x 80 px"


def test_zoom_and_pan_are_linked(qtbot, window, images):
    open_one(qtbot, window, images[0])
    views = window.views
    views.original.set_zoom(4.0, QPointF(30, 20))
    qtbot.wait(20)
    a = views.original.viewbox.viewRange()
    b = views.ela.viewbox.viewRange()
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert math.isclose(views.original.zoom(), 4.0, rel_tol=1e-3)
    assert math.isclose(views.ela.zoom(), 4.0, rel_tol=1e-3)
    views.ela.viewbox.translateBy(x=5, y=3)  # pan the other one
    qtbot.wait(20)
    np.testing.assert_allclose(
        views.original.viewbox.viewRange(), views.ela.viewbox.viewRange(), atol=1e-6
    )
    assert window.status_zoom.text() == "Zoom 400%"


def test_zoom_shortcuts(qtbot, window, images):
    open_one(qtbot, window, images[0])
    views = window.views
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert math.isclose(views.zoom(), 1.0, rel_tol=1e-3)
    qtbot.keyClick(window, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert math.isclose(views.zoom(), 2**0.5, rel_tol=1e-3)
    qtbot.keyClick(window, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(window, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert math.isclose(views.zoom(), 2**-0.5, rel_tol=1e-3)
    qtbot.keyClick(window, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert math.isclose(views.zoom(), views.original.fit_zoom(), rel_tol=1e-3)
    views._toggle_fit_actual(10, 10)  # what a double-click does
    assert math.isclose(views.zoom(), 1.0, rel_tol=1e-3)
    views._toggle_fit_actual(10, 10)
    assert math.isclose(views.zoom(), views.original.fit_zoom(), rel_tol=1e-3)


def test_status_bar_shows_pixel_values_under_the_mouse(qtbot, window, images):
    open_one(qtbot, window, images[0])
    pixels = jpeg_pixels(images[0])
    diff = ela_difference(pixels, 90)
    window.views.hovered.emit(12.7, 5.2)
    r, g, b = pixels[5, 12]
    dr, dg, db = diff[5, 12]
    expected = f"x 12  y 5   RGB {r} {g} {b}   ELA q90 diff {dr} {dg} {db}"
    assert window.status_position.text() == expected
    window.views.hovered.emit(500.0, 5.0)  # outside the image
    assert window.status_position.text() == ""
    window.grid.hovered.emit(12.7, 5.2)  # a grid cell shows another quality: no ELA numbers
    assert window.status_position.text() == f"x 12  y 5   RGB {r} {g} {b}"


def test_space_flips_and_layouts(qtbot, window, images):
    open_one(qtbot, window, images[0])
    views = window.views
    views.original.view.setFocus()
    qtbot.keyClick(views.original.view, Qt.Key.Key_Space)
    assert views.layout_mode == "single" and views.flipped
    assert not views.ela.isVisible()
    assert views.original.overlay.isVisible() and views.original.overlay.opacity() == 1.0
    np.testing.assert_array_equal(views.original.overlay.image, views.ela.image.image)
    qtbot.keyClick(views.original.view, Qt.Key.Key_Space)
    assert not views.flipped and not views.original.overlay.isVisible()
    window.set_layout_mode("blend")
    window.controls.opacity.setValue(30)
    assert views.original.overlay.isVisible()
    assert math.isclose(views.original.overlay.opacity(), 0.3)
    window.set_layout_mode("side")
    assert views.ela.isVisible() and not views.original.overlay.isVisible()
    assert window.controls.layout_mode() == "side"


def test_verdict_badge_without_a_model_offers_train_and_load(qtbot, window, images, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    chooser = []
    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", lambda *a, **k: chooser.append(a) or ("", "")
    )
    open_one(qtbot, window, images[0])
    badge = window.badge
    # no model installed (the fixture hides the bundled folder): nothing looks like a verdict
    assert badge.state == "no_model" and badge.isVisible()
    assert badge.text.text() == "No model loaded"
    assert badge.verdict is None
    assert badge.parent() is window.views.ela.view
    assert badge.train_button.isVisible() and badge.load_button.isVisible()
    assert window.session.current.verdict is None
    badge.set_running()
    assert badge.isVisible() and badge.text.text() == "Analysing..."
    assert not badge.train_button.isVisible()
    badge.set_result(Verdict("tampered", 0.474, "ela-cnn-casia", 0.420106, "reached it"))
    assert badge.text.text() == "Tampered"  # not "Tampered 47%": 0.474 is no 47% confidence
    assert badge.numbers.text() == "P(tampered) 0.47 ≥ threshold 0.42 · model ela-cnn-casia"
    tip = badge.toolTip().splitlines()
    assert tip[:3] == [
        "Model: ela-cnn-casia",
        MEANING["tampered"],
        "Why: reached it",
    ]
    assert "P(tampered) 0.47 ≥ threshold 0.42." in tip and NUMBERS_HELP in tip
    assert COLOURS["tampered"] in badge.text.styleSheet()
    badge.set_result(Verdict("no_trace", 0.4201, "m", 0.420106, "below it"))
    assert badge.text.text() == "No trace found"
    assert badge.numbers.text() == "P(tampered) 0.42010 < threshold 0.42011 · model m"
    assert COLOURS["no_trace"] in badge.text.styleSheet()
    assert "not proof that the image is authentic" in badge.toolTip()
    reason = "outside what model m was validated on (CASIA): 2000x1500 px, sides outside 256-384 px"
    badge.set_result(Verdict("inconclusive", None, "m", 0.42, reason))
    assert (badge.text.text(), badge.numbers.text()) == (
        "Inconclusive",
        "outside what model m was validated on",
    )
    assert f"Why: {reason}" in badge.toolTip().splitlines()
    assert (
        "P(tampered)" not in badge.toolTip() and COLOURS["inconclusive"] in badge.text.styleSheet()
    )
    badge.set_running()
    assert not badge.numbers.isVisible() and badge.numbers.text() == ""
    badge.set_result(Verdict("inconclusive", None, "m", 0.42, "not a JPEG (PNG): no blocks"))
    assert badge.numbers.text() == "not a JPEG (PNG)"
    badge.set_no_model("No model")
    with qtbot.waitSignal(badge.loadModelRequested, timeout=1000):
        badge.load_button.click()
    assert len(chooser) == 1  # the window answered with the model file dialog
    window.set_layout_mode("single")  # the badge follows the view that shows the ELA
    assert badge.parent() is window.views.original.view and badge.isVisible()
    window.session.step(0)
    badge.clear()
    assert not badge.isVisible()
