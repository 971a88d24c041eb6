"""The information panel, File > Open dialogs, a real slider drag and pixel-exact zoom."""
# ruff: noqa: F811 - pytest fixtures imported from uihelp are parameters of the tests

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog
from uihelp import images, photo, wait_idle, window, write_jpeg  # noqa: F401

from forensic_viewer.core.ela import ela_difference, render
from forensic_viewer.core.images import sha256_file


def edited_jpeg(path):
    exif = Image.Exif()
    exif[0x010F] = "Nikon"
    exif[0x0110] = "D90"
    exif[0x0131] = "Adobe Photoshop CS5"
    exif[0x0132] = "2021:05:06 07:08:09"
    exif.get_ifd(0x8769)[0x9003] = "2020:01:02 03:04:05"
    exif.get_ifd(0x8825)[1] = "N"
    return write_jpeg(path, photo(seed=4), quality=92, exif=exif, subsampling=0)


def test_info_panel_lists_facts_and_warnings(qtbot, window, tmp_path):
    assert "No image open" in window.info.toPlainText()
    path = edited_jpeg(tmp_path / "evidence" / "edited.jpg")
    window.open_paths([path])
    wait_idle(qtbot, window)
    rows = dict(window.info.plain_rows)
    assert rows["File"] == "edited.jpg" and rows["Format"] == "JPEG (RGB)"
    assert rows["Dimensions"] == "96 x 64 px (0.0 MP)"
    assert rows["SHA-256"] == sha256_file(path)
    assert rows["JPEG quality"] == "92 (standard IJG tables)"
    assert rows["Subsampling"] == "4:4:4" and rows["Progressive"] == "no"
    assert rows["Camera"] == "Nikon D90" and rows["Software"] == "Adobe Photoshop CS5"
    assert rows["Captured"] == "2020:01:02 03:04:05" and rows["GPS"] == "present"
    text = window.info.toPlainText()
    assert "Worth a look" in text
    assert "Software tag names an image editor: Adobe Photoshop CS5" in text
    assert "Modification date differs from capture date" in text


def test_info_panel_follows_the_current_image(qtbot, window, tmp_path, images):
    edited = edited_jpeg(tmp_path / "evidence" / "edited.jpg")
    window.open_paths([images[0], edited])
    wait_idle(qtbot, window)
    window.filmstrip.setCurrentRow(0)
    wait_idle(qtbot, window)
    rows = dict(window.info.plain_rows)
    assert rows["File"] == images[0].name and rows["EXIF"] == "none"
    assert "No EXIF metadata" in window.info.toPlainText()


def test_ctrl_o_opens_the_chosen_files(qtbot, window, images, monkeypatch):
    asked = []

    def choose(parent, caption, folder, filters):
        asked.append((caption, filters))
        return [str(p) for p in images[:2]], filters

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(choose))
    qtbot.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    wait_idle(qtbot, window)
    assert len(asked) == 1 and "*.jpg" in asked[0][1]
    assert [d.path for d in window.session.documents] == images[:2]
    # the next dialog starts in the folder the files came from
    assert window.app_settings.last_dir("open") == str(images[0].parent)


def test_cancelled_open_dialog_changes_nothing(qtbot, window, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: ([], "")))
    window.actions.open_files()
    assert window.session.documents == [] and window.messages.messages == []


def test_open_folder_dialog_opens_its_images(qtbot, window, tmp_path, monkeypatch):
    folder = tmp_path / "case"
    a = write_jpeg(folder / "a.jpg", photo(seed=1))
    b = write_jpeg(folder / "b" / "b.jpg", photo(seed=2))
    monkeypatch.setattr(
        QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(folder))
    )
    window.actions.open_folder_dialog()
    wait_idle(qtbot, window)
    assert [d.path for d in window.session.documents] == [a, b]


def test_slider_drag_shows_few_elas_and_ends_on_the_released_value(qtbot, window, images):
    window.open_paths([images[0]])
    wait_idle(qtbot, window)
    shown = []
    window.elaShown.connect(lambda frame: shown.append(frame.settings.quality))
    slider = window.controls.quality_slider
    slider.setSliderDown(True)
    for value in range(89, 59, -1):  # thirty steps in one go, as a fast drag sends them
        slider.setValue(value)
    assert window.controls.is_settling() and shown == []
    with qtbot.waitSignal(window.elaShown, timeout=10_000):
        slider.setSliderDown(False)  # release: sliderReleased sends the value at once
    wait_idle(qtbot, window)
    assert shown[-1] == 60 and len(shown) <= 2
    assert window.session.settings.quality == 60
    expected, _ = render(ela_difference(np.asarray(Image.open(images[0]).convert("RGB")), 60))
    np.testing.assert_array_equal(window.views.ela.image.image, expected)


def test_high_zoom_is_pixel_exact_and_aspect_locked(qtbot, window, tmp_path):
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    path = tmp_path / "noise.png"
    Image.fromarray(noise).save(path)
    window.open_paths([path])
    wait_idle(qtbot, window)
    pane = window.views.original
    pane.set_zoom(16.0, QPointF(48, 32))
    qtbot.wait(50)
    assert abs(pane.zoom() - 16.0) < 1e-6
    width, height = pane.viewbox.viewPixelSize()
    assert abs(width - height) < 1e-9  # one image pixel is a square on screen
    grabbed = pane.view.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    shot = (
        np.frombuffer(grabbed.constBits(), np.uint8)
        .reshape(grabbed.height(), grabbed.bytesPerLine())[:, : grabbed.width() * 3]
        .reshape(grabbed.height(), grabbed.width(), 3)
    )
    middle = shot[shot.shape[0] // 2 - 40 : shot.shape[0] // 2 + 40, 40:200]
    colours = {tuple(c) for c in middle.reshape(-1, 3)}
    # 160 x 80 screen pixels at 16x cover at most 11 x 6 image pixels: nearest-neighbour shows
    # only their colours (a smoothed view would blend thousands); each is a noise pixel
    assert 30 < len(colours) <= 11 * 6
    source_colours = {tuple(c) for c in noise.reshape(-1, 3)}
    assert colours <= source_colours


def test_filmstrip_icons_are_square_whatever_the_orientation(qtbot):
    from PySide6.QtCore import QSize

    from forensic_viewer.ui.viewer.filmstrip import ICON_SIZE, boxed_icon

    portrait, landscape, tiny = photo(64, 160), photo(160, 107), photo(20, 12)
    for array in (portrait, landscape, tiny):
        icon = boxed_icon(array)
        assert icon.availableSizes() == [QSize(ICON_SIZE, ICON_SIZE)]
        image = icon.pixmap(ICON_SIZE, ICON_SIZE).toImage()
        # transparent margins around the picture, which is centred and not enlarged
        opaque_columns = [x for x in range(ICON_SIZE) if image.pixelColor(x, 48).alpha() == 255]
        opaque_rows = [y for y in range(ICON_SIZE) if image.pixelColor(48, y).alpha() == 255]
        width = len(opaque_columns)
        height = len(opaque_rows)
        expected = (38, 96) if array is portrait else (96, 64) if array is landscape else (20, 12)
        assert (width, height) == expected
        assert abs(opaque_columns[0] - (ICON_SIZE - width - opaque_columns[0])) <= 1
    sharp = boxed_icon(landscape, pixel_ratio=2.0)
    assert sharp.pixmap(QSize(ICON_SIZE, ICON_SIZE), 2.0).width() == 2 * ICON_SIZE
