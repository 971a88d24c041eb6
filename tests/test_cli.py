"""The CLI's ela and info subcommands, errors and GUI start without a display."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from conftest import casia_files, needs_casia
from PIL import Image

from forensic_viewer.cli import main
from forensic_viewer.core.ela import classic_ela_pillow
from forensic_viewer.core.images import sha256_file


def make_jpeg(path, quality=88):
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(path, quality=quality)
    return path


def test_ela_writes_exact_full_resolution_png(tmp_path, capsys):
    source = make_jpeg(tmp_path / "in.jpg")
    out = tmp_path / "out" / "ela.png"
    assert main(["ela", str(source), "--quality", "75", "-o", str(out)]) == 0
    written = np.asarray(Image.open(out))
    assert np.array_equal(written, np.asarray(classic_ela_pillow(source, 75)))
    assert "q=75" in capsys.readouterr().out


def test_ela_manual_scale_and_refusals(tmp_path, capsys):
    source = make_jpeg(tmp_path / "in.jpg")
    digest = sha256_file(source)
    assert main(["ela", str(source), "--scale", "2", "-o", str(tmp_path / "g.png")]) == 0
    assert main(["ela", str(source), "-o", str(source)]) == 2
    assert "refusing to write over the input" in capsys.readouterr().err
    assert main(["ela", str(source), "-o", str(tmp_path / "x.jpg")]) == 2
    assert "lossless" in capsys.readouterr().err
    assert sha256_file(source) == digest


def test_info_json_and_text(tmp_path, capsys):
    source = make_jpeg(tmp_path / "in.jpg", quality=77)
    assert main(["info", str(source), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["jpeg"]["quality"] == 77 and facts["width"] == 56
    assert facts["sha256"] == sha256_file(source)
    assert main(["info", str(source)]) == 0
    text = capsys.readouterr().out
    assert "77 (standard IJG tables)" in text and "4:2:0" in text


def test_bad_input_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 garbage")
    for args in (["info", str(bad)], ["ela", str(bad), "-o", str(tmp_path / "o.png")]):
        proc = subprocess.run(
            [sys.executable, "-m", "forensic_viewer", *args], capture_output=True, text=True
        )
        assert proc.returncode == 2
        assert proc.stderr.count("\n") == 1 and "bad.jpg" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["bad.jpg"]


def test_gui_without_display_says_so():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    proc = subprocess.run(
        [sys.executable, "-m", "forensic_viewer"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "no display" in proc.stderr


def test_bad_quality_is_usage_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "forensic_viewer", "ela", "x.jpg", "-q", "0", "-o", "o.png"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "between 1 and 100" in proc.stderr


@needs_casia
def test_info_on_casia_names_photoshop():
    path = casia_files("tampered")[0]
    assert main(["info", str(path)]) == 0
