"""Clarity in the window (issue 12, items 14-19): what a user reads must be true and legible."""
# ruff: noqa: F811 - pytest fixtures imported from uihelp are parameters of the tests

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDragEnterEvent, QDragLeaveEvent, QPalette
from PySide6.QtWidgets import QApplication, QFileDialog, QLabel
from uihelp import (  # noqa: F401
    images,
    jpeg_pixels,
    no_bundled_models,
    photo,
    save_tiny_model,
    wait_idle,
    window,
    write_jpeg,
)

from forensic_viewer.core.ela import ela, ela_difference, render
from forensic_viewer.ui.settings import AppSettings
from forensic_viewer.ui.viewer.main_window import MainWindow


def test_close_all_resets_the_zoom_status_and_the_ela_header(qtbot, window, images):
    window.open_paths(images[:2])
    wait_idle(qtbot, window)
    window.views.actual_size()
    window.views.zoom_in()
    assert window.status_zoom.text() == "Zoom 141%"
    assert window.views.ela.header.text().startswith("ELA   q 90")
    window.session.close_all()
    wait_idle(qtbot, window)
    window.resize(window.width() - 100, window.height())  # an empty view's range changes
    qtbot.wait(50)
    header = window.views.ela.header.text()
    assert (window.status_zoom.text(), header) == ("", "ELA")
    assert window.views.original.header.text() == "Original"
    assert all("computing" not in pane.header.text() for pane in window.grid.panes)


def test_layout_tooltips_name_the_real_switch(window):
    tips = [button.toolTip() for button in window.controls.layout_buttons.buttons()]
    assert "F6" in tips[0] and "Ctrl+1" not in " ".join(tips)
    assert window.actions.view_menu  # F6 is the Cycle Layout action
    cycle = [a for a in window.actions.view_menu.actions() if a.text() == "Cycle Layout"]
    assert cycle and cycle[0].shortcut().toString() == "F6"


def camera_tables_jpeg(path):
    """Tables no IJG quality gives (as cameras write), and camera EXIF: a plain original."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Apple", "iPhone XR"
    luma = [max(1, (3 * i) // 4 + 2) for i in range(64)]
    chroma = [max(1, i // 2 + 3) for i in range(64)]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(photo(seed=5)).save(path, "JPEG", qtables=[luma, chroma], exif=exif)
    return path


def test_camera_quantization_tables_are_information_not_a_warning(qtbot, window, tmp_path):
    from forensic_viewer.core.images import load_image

    path = camera_tables_jpeg(tmp_path / "evidence" / "iphone.jpg")
    facts = load_image(path).facts
    assert not facts.jpeg.quality.standard
    assert facts.warnings == []
    assert facts.information == [
        "Non-standard JPEG quantization tables, as cameras, phones and some editors write; "
        "the quality number is approximate"
    ]
    window.open_paths([path])
    wait_idle(qtbot, window)
    html = window.info.toHtml()
    assert "Worth a look" not in window.info.toPlainText()
    assert "Non-standard JPEG quantization tables" in window.info.toPlainText()
    assert "#d68910" not in html  # not in the warning colour


@pytest.fixture
def default_window(qtbot, no_bundled_models):
    """A window with the settings a new user has (the shared fixture pins the classic scale)."""
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()


def test_auto_brightness_defaults_to_the_percentile_and_classic_stays_available(
    qtbot, default_window, images
):
    window = default_window
    assert window.controls.auto_scale.currentData() == "percentile"
    window.open_paths([images[0]])
    wait_idle(qtbot, window)
    diff = ela_difference(jpeg_pixels(images[0]), 90)
    expected, gain = render(diff, "percentile")
    np.testing.assert_array_equal(window.views.ela.image.image, expected)
    assert window.session.last_frame.gain == gain
    assert window.views.ela.header.text().startswith(f"ELA   q 90   auto x{gain:.1f} (99.5th pct)")

    combo = window.controls.auto_scale
    combo.setCurrentIndex(combo.findData("classic"))
    wait_idle(qtbot, window)
    frame = window.session.last_frame
    assert not frame.recomputed  # only the rendering changed: no new JPEG round trip
    np.testing.assert_array_equal(
        window.views.ela.image.image, ela(jpeg_pixels(images[0])).rendering
    )
    assert "(classic)" in window.views.ela.header.text()
    assert AppSettings().ela_settings().auto_scale == "classic"  # remembered

    window.controls.auto_brightness.setChecked(False)
    assert not combo.isEnabled()


def test_the_empty_window_is_a_drop_target_that_says_what_the_app_does(
    qtbot, window, images, monkeypatch
):
    welcome = window.welcome
    assert window.centre.currentWidget() is welcome and welcome.isVisible()
    assert not window.tabs.isVisible()  # no black panes
    assert welcome.title.text() == "Drop photos or folders here"
    assert "Error Level Analysis" in welcome.text.text()
    keys = " ".join(label.text() for label in welcome.findChildren(QLabel))
    for key in ("Ctrl+O", "F3", "F4", "F6", "Space", "Ctrl+1", "F1"):
        assert key in keys

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(images[0]))])
    enter = QDragEnterEvent(
        QPointF(30, 30), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted() and welcome.hovering
    QApplication.sendEvent(window, QDragLeaveEvent())
    assert not welcome.hovering

    chosen = [str(p) for p in images[:2]]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *a: (chosen, "")))
    qtbot.mouseClick(welcome.open_files, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert [str(d.path) for d in window.session.documents] == chosen
    assert window.centre.currentWidget() is window.tabs and not welcome.isVisible()
    window.session.close_all()
    assert window.centre.currentWidget() is welcome

    monkeypatch.setattr(
        QFileDialog, "getExistingDirectory", staticmethod(lambda *a: str(images[0].parent))
    )
    qtbot.mouseClick(welcome.open_folder, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert len(window.session.documents) == 3


def fully_shown(label: QLabel) -> bool:
    """The label's whole text fits in its rectangle (wrapped where it wraps)."""
    if label.wordWrap():
        return label.heightForWidth(label.width()) <= label.height()  # both with the padding
    return label.fontMetrics().horizontalAdvance(label.text()) <= label.contentsRect().width()


def test_grid_headers_fit_at_1280_by_800(qtbot, window, tmp_path):
    path = write_jpeg(tmp_path / "evidence" / "q95.jpg", photo(640, 480, seed=7), quality=95)
    window.resize(1280, 770)
    window.show_tab("grid")
    window.open_paths([path])
    wait_idle(qtbot, window)
    qtbot.wait(50)  # the wrapped headers take their height
    assert window.grid.highlight == 95
    headers = [pane.header for pane in window.grid.panes]
    assert "◀\u00a0file" in headers[4].text()  # kept together when the header wraps
    assert all(header.width() < 260 for header in headers)  # narrow cells, as reported
    assert [header.text() for header in headers if not fully_shown(header)] == []
    edit = window.grid.qualities_edit  # the qualities stay readable beside the estimate
    room = edit.width() - 12  # frame and text margins
    assert edit.fontMetrics().horizontalAdvance(edit.text()) <= room


def test_worth_a_look_comes_before_the_facts(qtbot, window, tmp_path):
    exif = Image.Exif()
    exif[0x0131] = "Adobe Photoshop 24.0"
    path = write_jpeg(tmp_path / "evidence" / "edited.jpg", photo(seed=2), exif=exif)
    window.open_paths([path])
    wait_idle(qtbot, window)
    text = window.info.toPlainText()
    assert text.startswith("Worth a look\n")
    assert text.index("Software tag names an image editor") < text.index("SHA-256")


def test_the_model_card_never_scrolls_sideways(qtbot, window, tmp_path):
    command = "forensic-viewer train /data/" + "long-folder-name/" * 8 + " --recipe ghost " * 6
    path = save_tiny_model(tmp_path / "models" / "wide", reproduce=command)
    window.model_menu.load_model_file(path)
    wait_idle(qtbot, window)
    dialog = window.model_menu.show_model_card()
    qtbot.waitExposed(dialog)
    assert dialog.width() <= 640
    assert dialog.browser.horizontalScrollBar().maximum() == 0
    assert " ".join(command.split()) in " ".join(dialog.browser.toPlainText().split())
    dialog.close()


def test_training_plot_legends_do_not_cover_the_data(qtbot):
    from forensic_viewer.ui.training.plots import TrainingPlots

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.resize(1000, 420)
    plots.show()
    qtbot.waitExposed(plots)
    for epoch in (1, 2, 3):
        plots.add_epoch(epoch, 0.7 - epoch / 20, 0.69 - epoch / 30, 0.5 + epoch / 10, 0.55)
    qtbot.wait(20)
    for plot, names in (
        (plots.loss_plot, ["batch (running)", "train", "validation"]),
        (plots.accuracy_plot, ["train", "validation"]),
    ):
        item = plot.getPlotItem()
        legend = item.legend
        shown = [label.text for _sample, label in legend.items]
        assert shown[: len(names)] == names  # (the localiser recipe adds a pixel AUC curve)
        view = item.vb.sceneBoundingRect()
        assert not legend.sceneBoundingRect().intersects(view)
        assert legend.sceneBoundingRect().top() >= view.bottom()


def contrast(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio of two colours."""

    def luminance(c: QColor) -> float:
        def linear(v: float) -> float:
            return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

        return 0.2126 * linear(c.redF()) + 0.7152 * linear(c.greenF()) + 0.0722 * linear(c.blueF())

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("base", ["#232629", "#ffffff", "#3c3f41", "#f0f0f0"])
def test_filmstrip_verdicts_are_legible_on_dark_and_light_palettes(qtbot, base, images):
    from forensic_viewer.core.images import load_image
    from forensic_viewer.ui.viewer.document import Document, Verdict, make_thumbnail
    from forensic_viewer.ui.viewer.filmstrip import Filmstrip

    strip = Filmstrip()
    qtbot.addWidget(strip)
    palette = strip.palette()
    palette.setColor(QPalette.ColorRole.Base, QColor(base))
    strip.setPalette(palette)
    for state, p in (("tampered", 0.9), ("no_trace", 0.1), ("inconclusive", None)):
        loaded = load_image(images[0])
        doc = Document(images[0], loaded.facts, make_thumbnail(loaded.pixels, 1))
        strip.add_document(doc)
        doc.verdict = Verdict(state=state, p_tampered=p, model_name="m")
        strip.set_verdict(doc)
        colour = strip.item_for(doc.id).foreground().color()
        assert contrast(colour, QColor(base)) >= 4.5, (state, colour.name())


def test_close_all_lets_go_of_every_image_array(qtbot, window, images, monkeypatch):
    import gc
    import weakref

    from forensic_viewer.ui.viewer import main_window

    released = []
    monkeypatch.setattr(main_window, "release_memory", lambda: released.append(1) or True)
    window.open_paths(images)
    wait_idle(qtbot, window)
    doc = window.session.current
    arrays = [window.session.pixels(doc), window.views.ela.image.image]
    window.set_layout_mode("blend")  # the overlay wraps the ELA too
    qtbot.wait(20)
    refs = [weakref.ref(a) for a in arrays]
    del arrays
    window.session.close_all()
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: released == [1], timeout=2_000)  # trimmed once, after the last
    gc.collect()
    assert [ref() is None for ref in refs] == [True, True]
    for item in (
        window.views.original.image,
        window.views.original.overlay,
        window.views.ela.image,
    ):
        assert item.qimage is None and item.image is None


def test_a_huge_image_is_drawn_reduced_and_analysed_in_full(qtbot, window, tmp_path, monkeypatch):
    from forensic_viewer.ui.viewer import display

    monkeypatch.setattr(display, "MAX_DISPLAY_PIXELS", 20_000)  # 400 x 300 counts as huge
    path = write_jpeg(tmp_path / "evidence" / "big.jpg", photo(400, 300, seed=9), quality=80)
    window.open_paths([path])
    wait_idle(qtbot, window)
    frame = window.session.last_frame
    pixels = jpeg_pixels(path)
    full, gain = render(ela_difference(pixels, 90), "auto")  # the fixture's classic scale
    assert frame.display_factor == 3 and frame.gain == gain
    assert window.views.original.image.image.shape == (100, 134, 3)
    np.testing.assert_array_equal(window.views.ela.image.image, display.block_max(full, 3))
    assert window.views.original.image_size == window.views.ela.image_size == (400, 300)
    window._on_hover(399.5, 299.5)  # full-resolution values under the mouse
    r, g, b = pixels[299, 399]
    assert window.status_position.text().startswith(f"x 399  y 299   RGB {r} {g} {b}")
    np.testing.assert_array_equal(frame.full_rendering(), full)  # what Export ELA writes


def test_display_factor_and_block_max():
    from forensic_viewer.ui.viewer.display import block_max, display_factor

    assert display_factor(4000, 3000, 32_000_000) == 1
    assert display_factor(13_000, 13_000, 32_000_000) == 3  # 169 MP -> 4334 x 4334 = 18.8 MP
    assert display_factor(401, 300, 20_000) == 3
    array = np.arange(7 * 5, dtype=np.uint8).reshape(7, 5)
    expected = np.array([[6, 8, 9], [16, 18, 19], [26, 28, 29], [31, 33, 34]], np.uint8)
    np.testing.assert_array_equal(block_max(array, 2), expected)


def test_close_all_makes_the_network_forget_the_last_image(qtbot, window, images, tmp_path):
    model = save_tiny_model(tmp_path / "models" / "tiny", "tiles", seed=1)
    window.choose_model(model)
    window.open_paths(images[:1])
    wait_idle(qtbot, window)
    predictor = window.verdicts.predictor
    assert window.session.current.verdict is not None
    assert predictor._last_rgb is window.session.pixels(window.session.current)
    window.session.close_all()
    wait_idle(qtbot, window)
    assert predictor._last_rgb is None and predictor._last_rendering is None
