"""``forensic-viewer predict``: output formats, error rows, exit codes, folder search."""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from forensic_viewer import cli_predict
from forensic_viewer.core.images import load_image
from forensic_viewer.core.paths import user_models_dir
from forensic_viewer.ml import modelfile
from forensic_viewer.ml.model import ElaCnn
from forensic_viewer.ml.modelfile import ModelCard, save_model
from forensic_viewer.ml.predict import Predictor
from forensic_viewer.ml.preprocess import Recipe

PREDICTION_KEYS = {"path", "sha256", "verdict", "reason", "p_tampered", "threshold", "model", "ms"}
ERROR_KEYS = {"path", "error"}
# The network for 32 x 32 inputs: the code paths of the 128 x 128 model in a fraction of the time.
SMALL = Recipe(name="small", size=32)


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="forensic-viewer")
    cli_predict.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def make_jpeg(path, seed=0):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=80)
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    torch.manual_seed(3)
    card = ModelCard(name="cli-test", recipe=SMALL.as_dict(), threshold=0.5)
    return save_model(tmp_path_factory.mktemp("m") / "cli-test", ElaCnn(input_size=32), card)


@pytest.fixture
def files(tmp_path):
    good = [make_jpeg(tmp_path / f"img{i}.jpg", seed=i) for i in range(3)]
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    return good, bad


@pytest.fixture
def no_default(tmp_path, monkeypatch):
    empty = tmp_path / "bundled"
    empty.mkdir()
    monkeypatch.setattr(modelfile, "bundled_models_dir", lambda: empty)
    return empty


def test_json_is_one_array_with_exact_keys(model_path, files, capsys):
    good, bad = files
    code = run(
        ["predict", str(good[0]), str(bad), str(good[1]), "--model", str(model_path), "--json"]
    )
    out, err = capsys.readouterr()
    assert code == 1
    rows = json.loads(out)
    assert isinstance(rows, list) and len(rows) == 3
    assert [set(row) for row in rows] == [PREDICTION_KEYS, ERROR_KEYS, PREDICTION_KEYS]
    assert [row["path"] for row in rows] == [str(good[0]), str(bad), str(good[1])]
    assert rows[1]["error"].startswith("broken.jpg: ")
    predictor = Predictor(model_path)
    for row, path in ((rows[0], good[0]), (rows[2], good[1])):
        expected = predictor.predict(load_image(path).pixels)
        assert isinstance(row["p_tampered"], float) and isinstance(row["ms"], float)
        assert row["p_tampered"] == pytest.approx(expected.p_tampered, abs=2e-6)
        assert row["verdict"] == ("tampered" if row["p_tampered"] >= 0.5 else "no_trace")
        assert row["model"] == "cli-test" and row["threshold"] == 0.5
        assert "declares no validated domain" in row["reason"]
    assert "Traceback" not in err
    assert "3 file(s)" in err and "1 failed" in err


def test_all_good_exits_zero_and_text_has_one_line_per_file(model_path, files, capsys):
    good, _ = files
    assert run(["predict", *map(str, good), "--model", str(model_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for line, path in zip(lines, good, strict=True):
        assert line.split()[0] in ("tampered", "no_trace")
        assert "%" not in line and line.split()[1] == "P"
        assert line.endswith(str(path))


def test_csv_has_the_same_columns(model_path, files, capsys):
    good, bad = files
    assert run(["predict", str(bad), str(good[2]), "--model", str(model_path), "--csv"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0] == ("path,sha256,verdict,reason,p_tampered,threshold,model,ms,error")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 2
    assert rows[0]["path"] == str(bad)
    assert rows[0]["error"].startswith("broken.jpg: ")
    assert (rows[0]["p_tampered"], rows[0]["verdict"], rows[0]["model"]) == ("", "", "")
    assert rows[1]["error"] == ""
    assert 0.0 <= float(rows[1]["p_tampered"]) <= 1.0
    assert rows[1]["verdict"] in ("tampered", "no_trace") and rows[1]["model"] == "cli-test"


def test_recursive_folder_search(model_path, tmp_path, capsys):
    top = make_jpeg(tmp_path / "case" / "a.jpg")
    deep = make_jpeg(tmp_path / "case" / "sub" / "b.JPG", seed=1)
    (tmp_path / "case" / "notes.txt").write_text("not an image, and not named on the command line")
    (tmp_path / "case" / ".hidden.jpg").write_bytes(b"")
    folder = str(tmp_path / "case")
    assert run(["predict", folder, "--model", str(model_path), "--json"]) == 0
    assert [row["path"] for row in json.loads(capsys.readouterr().out)] == [str(top)]
    assert run(["predict", folder, "--recursive", "--model", str(model_path), "--json"]) == 0
    assert [row["path"] for row in json.loads(capsys.readouterr().out)] == [str(top), str(deep)]
    assert run(["predict", folder, str(top), "-r", "--model", str(model_path), "--csv"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3  # header + 2: named twice, listed once


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("forensic-viewer: error: ")
    return lines[0]


def test_unusable_models_exit_two_with_one_line(model_path, files, tmp_path, capsys, no_default):
    good, _ = files
    assert run(["predict", str(good[0]), "--model", str(tmp_path / "absent")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "absent" in one_error_line(err)

    torch.save(ElaCnn(input_size=32).state_dict(), tmp_path / "weights.pt")
    assert run(["predict", str(good[0]), "--model", str(tmp_path / "weights.pt")]) == 2
    assert "pickle" in one_error_line(capsys.readouterr().err)

    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(model_path.read_bytes()[:1000])
    assert run(["predict", str(good[0]), "--model", str(truncated), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "cut.safetensors" in one_error_line(err)

    assert run(["predict", str(good[0])]) == 2  # no --model and no default model installed
    assert "no model available" in one_error_line(capsys.readouterr().err)


def test_bad_usage_exits_two(model_path, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert run(["predict", str(tmp_path / "empty"), "--model", str(model_path)]) == 2
    assert "no image files found" in one_error_line(capsys.readouterr().err)
    with pytest.raises(SystemExit) as exited:
        run(["predict", "x.jpg", "--json", "--csv"])
    assert exited.value.code == 2
    with pytest.raises(SystemExit) as exited:
        run(["predict"])
    assert exited.value.code == 2


def test_default_and_named_models(model_path, files, no_default, capsys):
    good, _ = files
    shutil.copy(model_path, no_default / "default.safetensors")
    assert run(["predict", str(good[0]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["model"] == "cli-test"
    user_models_dir().mkdir(parents=True)
    shutil.copy(model_path, user_models_dir() / "mine.safetensors")
    assert run(["predict", str(good[0]), "--model", "mine", "--csv"]) == 0


def test_progress_bar_on_stderr_for_many_files(model_path, tmp_path, capsys):
    paths = [str(make_jpeg(tmp_path / f"p{i}.jpg", seed=i)) for i in range(6)]
    assert run(["predict", *paths, "--model", str(model_path), "--json"]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)) == 6
    assert "6/6" in err


def test_through_the_real_entry_point(model_path, files, tmp_path):
    good, bad = files
    command = [sys.executable, "-m", "forensic_viewer.cli", "predict", str(good[0]), str(bad)]
    result = subprocess.run(
        [*command, "--model", str(model_path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert [set(row) for row in json.loads(result.stdout)] == [PREDICTION_KEYS, ERROR_KEYS]
    bogus = tmp_path / "bogus.safetensors"
    bogus.write_bytes(b"\x00" * 64)
    result = subprocess.run(
        [*command, "--model", str(bogus)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert "bogus.safetensors" in one_error_line(result.stderr)


def test_png_is_inconclusive_with_a_reason_not_a_probability(model_path, tmp_path, capsys):
    png = tmp_path / "screenshot.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(png)
    assert run(["predict", str(png), "--model", str(model_path), "--json"]) == 0
    out, err = capsys.readouterr()
    (row,) = json.loads(out)
    assert (row["verdict"], row["p_tampered"], row["ms"]) == ("inconclusive", None, None)
    assert row["reason"].startswith("not a JPEG (PNG): ")
    assert "0 tampered, 0 no trace found, 1 inconclusive, 0 failed" in err
    assert run(["predict", str(png), "--model", str(model_path)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("inconclusive") and line.endswith(": " + row["reason"])


def casia_size_jpeg(path, size, quality):
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    Image.fromarray(base).resize(size, Image.Resampling.BILINEAR).save(path, quality=quality)
    return path


def test_default_model_is_inconclusive_outside_its_domain_and_decides_inside(tmp_path, capsys):
    camera = casia_size_jpeg(tmp_path / "camera.jpg", (2000, 1500), 90)
    casia = casia_size_jpeg(tmp_path / "casia.jpg", (384, 256), 84)
    assert run(["predict", str(camera), str(casia), "--json"]) == 0
    outside, inside = json.loads(capsys.readouterr().out)
    assert (outside["verdict"], outside["p_tampered"]) == ("inconclusive", None)
    assert outside["reason"].startswith(
        "outside what model default was validated on (CASIA v1 validation split"
    )
    assert "2000x1500 px, sides outside 256-384 px" in outside["reason"]
    assert inside["verdict"] in ("tampered", "no_trace") and inside["model"] == "default"
    expected = Predictor(modelfile.default_model_path()).predict(load_image(casia).pixels)
    assert inside["p_tampered"] == pytest.approx(expected.p_tampered, abs=2e-6)
    assert inside["verdict"] == expected.verdict.state
