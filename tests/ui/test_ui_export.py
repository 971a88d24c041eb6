"""Exports: exact PNGs and report, evidence untouched, nothing written beside it, refusals."""
# ruff: noqa: F811 - pytest fixtures imported from uihelp are parameters of the tests

from __future__ import annotations

import hashlib
import json

import numpy as np
from badinput import snapshot
from uihelp import images, jpeg_pixels, png_pixels, wait_idle, window  # noqa: F401

from forensic_viewer.core.ela import ela
from forensic_viewer.ui.viewer.export import compose_grid


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_exports_write_exact_files_and_leave_the_evidence_alone(qtbot, window, images, tmp_path):
    evidence_folder = images[0].parent
    before = snapshot(evidence_folder)
    evidence_sha = sha256(images[0])
    window.open_paths([images[0]])
    wait_idle(qtbot, window)
    with qtbot.waitSignal(window.grid.completed, timeout=20_000):
        window.show_tab("grid")
    wait_idle(qtbot, window)
    out = tmp_path / "exports"
    ela_png = window.actions.export("ela", out / "a.ela.png")
    grid_png = window.actions.export("grid", out / "a.grid.png")
    report_json = window.actions.export("report", out / "a.report.json")
    assert (ela_png, grid_png, report_json) == (
        out / "a.ela.png",
        out / "a.grid.png",
        out / "a.report.json",
    )
    assert window.messages.messages == []

    pixels = jpeg_pixels(images[0])
    expected = ela(pixels, 90)
    np.testing.assert_array_equal(png_pixels(ela_png), expected.rendering)
    cells = window.grid.ordered_cells()
    np.testing.assert_array_equal(png_pixels(grid_png), compose_grid(cells, window.grid.highlight))

    report = json.loads(report_json.read_text())
    assert report["schema"] == "forensic-viewer.report/1"
    assert report["file"]["sha256"] == evidence_sha
    assert report["integrity"] == {
        "sha256_when_opened": evidence_sha,
        "sha256_at_export": evidence_sha,
        "unchanged": True,
    }
    assert report["ela"]["quality"] == 90
    assert report["ela"]["max_diff"] == expected.max_diff
    assert report["ela"]["gain"] == expected.gain
    assert report["ela"]["grayscale"] is False
    assert report["verdict"] is None
    assert [c["quality"] for c in report["quality_grid"]] == [60, 70, 80, 90, 95, 100]
    assert report["file"]["width"] == 96 and report["file"]["height"] == 64

    assert sha256(images[0]) == evidence_sha
    assert snapshot(evidence_folder) == before  # nothing written beside the evidence
    assert sorted(p.name for p in out.iterdir()) == ["a.ela.png", "a.grid.png", "a.report.json"]


def test_export_refuses_the_evidence_file_and_its_folder(qtbot, window, images):
    evidence_folder = images[0].parent
    before = snapshot(evidence_folder)
    window.open_paths(images[:2])
    wait_idle(qtbot, window)
    assert window.actions.export("ela", images[1]) is None  # another open evidence file
    assert window.actions.export("report", evidence_folder / "report.json") is None
    assert snapshot(evidence_folder) == before
    assert (
        window.messages.messages[0]
        == "img1.jpg: not exported (img1.jpg: refusing to overwrite the evidence file)"
    )
    assert window.messages.messages[1].startswith(
        "report.json: not exported (report.json: refusing to write into the evidence folder"
    )


def test_grid_export_waits_for_the_grid(qtbot, window, images, tmp_path):
    window.open_paths([images[0]])
    wait_idle(qtbot, window)
    assert window.actions.export("grid", tmp_path / "out" / "g.png") is None
    assert window.current_tab() == "grid"  # the grid is opened so the user can see it compute
    assert not (tmp_path / "out").exists()
    assert window.messages.messages == [
        "The quality grid is being computed; export it when all cells show"
    ]


def test_nothing_to_export_without_an_image(qtbot, window, tmp_path):
    assert window.actions.export("ela", tmp_path / "x.png") is None
    assert not (tmp_path / "x.png").exists()
