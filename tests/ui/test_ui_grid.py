"""Quality grid: every cell computed exactly, linked views, highlight, editable qualities."""
# ruff: noqa: F811 - pytest fixtures imported from uihelp are parameters of the tests

from __future__ import annotations

import numpy as np
from uihelp import jpeg_pixels, photo, wait_idle, window, write_jpeg  # noqa: F401

from forensic_viewer.core.ela import ela_difference, render
from forensic_viewer.ui.analyses.grid import block_max, closest_quality, downsample_factor


def open_in_grid(qtbot, window, path):
    window.open_paths([path])
    wait_idle(qtbot, window)
    with qtbot.waitSignal(window.grid.completed, timeout=20_000):
        window.show_tab("grid")
    wait_idle(qtbot, window)


def test_grid_computes_every_cell_exactly(qtbot, window, tmp_path):
    path = write_jpeg(tmp_path / "ev" / "q82.jpg", photo(112, 80, seed=3), quality=82)
    open_in_grid(qtbot, window, path)
    grid = window.grid
    pixels = jpeg_pixels(path)
    assert grid.qualities == [60, 70, 80, 90, 95, 100]
    assert [c.quality for c in grid.ordered_cells()] == grid.qualities
    for quality, pane in zip(grid.qualities, grid.panes, strict=True):
        expected, gain = render(ela_difference(pixels, quality))
        cell = grid.cells[quality]
        np.testing.assert_array_equal(cell.rendering, expected)
        np.testing.assert_array_equal(pane.image.image, expected)
        assert cell.gain == gain and cell.downsample == 1
        assert pane.header.text().startswith(f"q {quality}  x{gain:.1f}  max {cell.max_diff}")
    assert grid.progress.value() == 6 and grid.progress.maximum() == 6
    # the file says 82; the closest cell is 80 and it is the only one marked
    assert grid.highlight == 80
    assert grid.estimate.text() == "File's quality: 82 (standard IJG tables)"
    marked = [q for q, p in zip(grid.qualities, grid.panes, strict=True) if p.styleSheet()]
    assert marked == [80]
    assert grid.panes[2].header.text().endswith("◀\u00a0file")
    assert window.status_zoom.text() == f"Zoom {grid.zoom() * 100:.0f}%"


def test_grid_views_are_linked(qtbot, window, tmp_path):
    path = write_jpeg(tmp_path / "ev" / "a.jpg", photo(64, 48, seed=1))
    open_in_grid(qtbot, window, path)
    first, *others = window.grid.panes
    first.set_zoom(3.0)
    qtbot.wait(20)
    centre = first.viewbox.viewRect().center()
    for pane in others:
        # same scale; same centre within one screen pixel (cells may differ by a pixel in size)
        assert abs(pane.zoom() - 3.0) < 1e-6
        other = pane.viewbox.viewRect().center()
        assert abs(other.x() - centre.x()) <= 1 / 3 and abs(other.y() - centre.y()) <= 1 / 3
    first.set_zoom(6.0)
    qtbot.wait(20)
    assert all(abs(p.zoom() - 6.0) < 1e-6 for p in others)


def test_edited_qualities_recompute_and_persist(qtbot, window, tmp_path):
    path = write_jpeg(tmp_path / "ev" / "a.jpg", photo(64, 48, seed=2), quality=75)
    open_in_grid(qtbot, window, path)
    grid = window.grid
    with qtbot.waitSignal(grid.completed, timeout=20_000):
        grid.qualities_edit.setText("50, 75 99")
        grid.qualities_edit.editingFinished.emit()
    assert grid.qualities == [50, 75, 99] and len(grid.panes) == 3
    assert sorted(grid.cells) == [50, 75, 99]
    assert grid.highlight == 75
    assert window.app_settings.grid_qualities() == [50, 75, 99]
    grid.qualities_edit.setText("50, 170")
    grid.qualities_edit.editingFinished.emit()
    assert grid.qualities == [50, 75, 99]  # refused, with the reason in the tooltip
    assert grid.qualities_edit.toolTip() == "Not applied: 170 is outside 1-100"


def test_switching_image_while_grid_is_shown_recomputes(qtbot, window, tmp_path):
    a = write_jpeg(tmp_path / "ev" / "a.jpg", photo(64, 48, seed=4))
    b = write_jpeg(tmp_path / "ev" / "b.jpg", photo(72, 40, seed=5))
    window.open_paths([a, b])
    wait_idle(qtbot, window)
    window.show_tab("grid")
    wait_idle(qtbot, window)
    window.session.set_current(window.session.documents[1])
    wait_idle(qtbot, window)
    expected, _ = render(ela_difference(jpeg_pixels(b), 60))
    np.testing.assert_array_equal(window.grid.cells[60].rendering, expected)


def test_large_images_are_reduced_per_cell_by_block_maximum():
    array = np.zeros((5, 7), np.uint8)
    array[4, 6] = 200
    array[0, 1] = 9
    reduced = block_max(array, 2)
    assert reduced.shape == (3, 4)
    assert reduced[2, 3] == 200 and reduced[0, 0] == 9 and reduced.sum() == 209
    assert downsample_factor(6000, 4000, max_pixels=6_000_000) == 2
    assert downsample_factor(2000, 1000, max_pixels=6_000_000) == 1
    assert closest_quality([60, 70, 80, 90], 75) == 80
    assert closest_quality([60, 70], None) is None
