"""The viewer with cut-off JPEGs (missing rows hatched, ELA blank there, a message) and with an
iPhone-style JPEG carrying an MPF gain map (analysed as a JPEG, embedded image listed)."""
# ruff: noqa: F811 - pytest fixtures imported from uihelp are parameters of the tests

from __future__ import annotations

import numpy as np
from test_formats import iphone_like_mpo
from uihelp import jpeg_pixels, photo, wait_idle, window, write_jpeg  # noqa: F401

from forensic_viewer.core.images import load_image


def test_cut_off_jpeg_is_hatched_below_its_decoded_rows(qtbot, window, tmp_path):
    whole = write_jpeg(tmp_path / "whole.jpg", photo(160, 120), quality=90)
    data = whole.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) * 3 // 5])
    rows = load_image(cut).facts.decoded_rows
    assert rows is not None and 0 < rows < 120
    window.open_paths([cut])
    wait_idle(qtbot, window)
    frame = window.session.last_frame
    assert frame.original.shape == (120, 160, 3) and frame.rendering.shape == (120, 160, 3)
    assert np.array_equal(frame.original[:rows], jpeg_pixels(whole)[:rows])
    assert set(np.unique(frame.original[rows:])) == {48, 96}  # the grey stripes, nothing else
    assert not frame.rendering[rows:].any() and not frame.diff[rows:].any()  # blank, not garbage
    assert frame.rendering[:rows].any()
    percent = 100 * rows // 120
    described = f"rows 0-{rows - 1} of 120 decoded ({percent}%)"
    assert window.messages.messages == [
        f"cut.jpg: truncated file, {described}; the missing part is hatched and ELA and "
        "verdict cover only the decoded rows"
    ]
    info = dict(window.info.plain_rows)
    assert info["Decoded"] == f"{described}; the rest is hatched"
    thumbnail = window.session.current.thumbnail
    assert thumbnail.shape[:2] == (120, 160)  # the whole frame (not shrunk: under 160 px)
    assert set(np.unique(thumbnail[rows:])) == {48, 96}


def test_rotated_cut_off_jpeg_keeps_the_hatch_beside_the_real_part(qtbot, window, tmp_path):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display: the missing bottom goes left
    whole = write_jpeg(tmp_path / "whole.jpg", photo(160, 120), quality=90, exif=exif)
    data = whole.read_bytes()
    cut = tmp_path / "cut6.jpg"
    cut.write_bytes(data[: len(data) * 3 // 5])
    rows = load_image(cut).facts.decoded_rows
    window.open_paths([cut])
    wait_idle(qtbot, window)
    frame = window.session.last_frame
    assert frame.original.shape == (160, 120, 3) and frame.rendering.shape == (160, 120, 3)
    missing = 120 - rows
    assert set(np.unique(frame.original[:, :missing])) == {48, 96}
    assert not frame.rendering[:, :missing].any() and frame.rendering[:, missing:].any()


def test_mpf_jpeg_is_analysed_as_jpeg_with_its_gain_map_listed(qtbot, window, tmp_path):
    path = iphone_like_mpo(tmp_path / "IMG_0001.JPG", photo(96, 64))
    window.open_paths([path])
    wait_idle(qtbot, window)
    info = dict(window.info.plain_rows)
    assert info["Format"] == "JPEG (RGB)"
    assert info["JPEG quality"] == "90 (standard IJG tables)"
    assert info["Subsampling"] == "4:2:0"
    assert "Frames" not in info
    embedded = [value for label, value in window.info.plain_rows if label == "Embedded"]
    assert [e.split(", ")[:2] for e in embedded] == [
        ["HDR gain map", "32 x 24 px"],
        ["depth map", "20 x 14 px"],
    ]
    assert window.messages.messages == []
    assert window.session.last_frame.rendering.shape == (64, 96, 3)


def test_heat_overlay_of_a_cut_off_file_is_transparent_where_rows_are_missing():
    from forensic_viewer.core.images import orient
    from forensic_viewer.ml.predict import TileHeatmap
    from forensic_viewer.ml.preprocess import tile_origins
    from forensic_viewer.ui.network.heatmap import heat_lut
    from forensic_viewer.ui.network.verdict_jobs import colour_heatmap, make_overlay

    rows, height, width = 200, 320, 256  # 200 decoded rows of a 256 x 320 frame
    origins = tile_origins(rows, width, 64, 32)
    count = len({y for y, _ in origins})
    probs = np.random.default_rng(1).random(len(origins), dtype=np.float32).reshape(count, -1)
    heat = TileHeatmap(probs=probs, origins=origins, tile=64, stride=32, image_shape=(rows, width))
    overlay = make_overlay(3, heat, 6, heat_lut(), full_height=height)
    assert overlay.size == (height, width) and overlay.step == 1  # (w, h) shown after rotation
    assert overlay.rgba.shape == (width, height, 4)
    missing = height - rows  # orientation 6 turns the missing bottom rows into the left columns
    assert not overlay.rgba[:, :missing].any()
    expected = colour_heatmap(orient(heat.upsample(), 6), heat_lut())
    np.testing.assert_array_equal(overlay.rgba[:, missing:], expected)
