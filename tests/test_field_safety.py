"""Issue 12 field-test fixes: bad metadata never hides pixels, JSON/CSV output stays valid, and
``ela -o`` refuses to replace files or fails with one line (exit 2) before computing anything."""

from __future__ import annotations

import csv
import io
import json
import os
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forensic_viewer import cli
from forensic_viewer.cli import main
from forensic_viewer.core import atomic
from forensic_viewer.core.atomic import same_file
from forensic_viewer.core.images import load_image, sha256_file
from forensic_viewer.core.jsonout import dumps, json_safe


def photo(path: Path, exif: bytes = b"") -> Path:
    yy, xx = np.mgrid[0:24, 0:40]
    rgb = np.stack([xx * 6 % 256, yy * 9 % 256, (xx + yy) * 4 % 256], 2).astype(np.uint8)
    Image.fromarray(rgb).save(path, quality=90, exif=exif)
    return path


ASCII, SHORT, LONG, RATIONAL = 2, 3, 4, 5


def ascii_entry(tag: int, text: str) -> tuple[int, int, int, bytes]:
    data = text.encode("latin-1") + b"\0"
    return tag, ASCII, len(data), data


def rational_entry(tag: int, numerator: int, denominator: int) -> tuple[int, int, int, bytes]:
    return tag, RATIONAL, 1, struct.pack("<II", numerator, denominator)


def exif_block(ifd0: list, exif_ifd: list = (), ifd1: list = ()) -> bytes:
    """A little-endian EXIF block written by hand, with any type for any tag (as hostile or
    sloppy writers do; Pillow itself refuses to write a text Orientation)."""
    ifd0 = list(ifd0)
    if exif_ifd:
        ifd0.append((0x8769, LONG, 1, None))  # the pointer, filled in below

    def size(entries) -> int:
        return 2 + 12 * len(entries) + 4

    def data_size(entries) -> int:
        return sum(len(d) for _, _, _, d in entries if d is not None and len(d) > 4)

    ifd0_at = 8
    exif_at = ifd0_at + size(ifd0) + data_size(ifd0)
    ifd1_at = exif_at + (size(exif_ifd) + data_size(exif_ifd) if exif_ifd else 0)

    def pack(entries, at: int, pointer: int | None, next_ifd: int = 0) -> bytes:
        head, tail = struct.pack("<H", len(entries)), b""
        data_at = at + size(entries)
        for tag, kind, count, data in sorted(entries, key=lambda e: e[0]):
            if data is None:
                data = struct.pack("<I", pointer)
            if len(data) > 4:
                value = struct.pack("<I", data_at + len(tail))
                tail += data
            else:
                value = data.ljust(4, b"\0")
            head += struct.pack("<HHI", tag, kind, count) + value
        return head + struct.pack("<I", next_ifd) + tail

    body = pack(ifd0, ifd0_at, exif_at, ifd1_at if ifd1 else 0)
    if exif_ifd:
        body += pack(list(exif_ifd), exif_at, None)
    if ifd1:  # the thumbnail's directory
        body += pack(list(ifd1), ifd1_at, None)
    return b"Exif\0\0II*\0" + struct.pack("<I", ifd0_at) + body


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity, as strict parsers (JavaScript, jq) do."""

    def refuse(name: str):
        raise ValueError(f"invalid JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


# --- item 3: a text EXIF Orientation must not make a valid image unreadable -------------------


@pytest.mark.parametrize("value", ["six", "", "6.5", "99999999999999999999"])
def test_text_orientation_keeps_the_pixels(tmp_path, value):
    exif = exif_block([ascii_entry(0x0112, value), ascii_entry(0x010F, "Canon")])
    path = photo(tmp_path / "o.jpg", exif)
    loaded = load_image(path)
    assert loaded.pixels.shape == (24, 40, 3)
    assert loaded.facts.orientation == 1
    assert loaded.facts.exif["camera_make"] == "Canon"
    shown = {"six": "'six'", "6.5": "6.5", "99999999999999999999": "99999999999999999999"}
    if value:
        assert f"Invalid EXIF orientation {shown[value]} ignored" in loaded.facts.notes


def test_numeric_text_orientation_is_used(tmp_path):
    exif = exif_block([ascii_entry(0x0112, "6")])
    loaded = load_image(photo(tmp_path / "o.jpg", exif))
    assert loaded.facts.orientation == 6
    assert "EXIF orientation 6: rotated for display only" in loaded.facts.notes


def test_rational_orientation_and_dates_do_not_break_loading(tmp_path):
    exif = exif_block(
        [rational_entry(0x0112, 0, 0), rational_entry(0x0132, 1, 0)],
        [rational_entry(0x9003, 0, 0)],
    )
    loaded = load_image(photo(tmp_path / "r.jpg", exif))
    assert loaded.pixels.shape == (24, 40, 3) and loaded.facts.orientation == 1
    assert loaded.facts.notes == ("Invalid EXIF orientation '0/0' ignored",)
    assert "captured" not in loaded.facts.exif and "modified" not in loaded.facts.exif


# --- item 5: JSON output never contains NaN or Infinity ----------------------------------------


def test_json_safe_replaces_non_finite_numbers():
    value = {"a": float("nan"), "b": [float("inf"), -float("inf"), 1.5], "c": (np.float32("nan"),)}
    assert json_safe(value) == {"a": None, "b": [None, None, 1.5], "c": [None]}
    assert dumps(value) == '{"a": null, "b": [null, null, 1.5], "c": [null]}'
    assert dumps({"p": Path("/x")}) == '{"p": "/x"}'


def test_info_json_with_rational_zero_date_is_valid_json(tmp_path, capsys):
    exif = exif_block([ascii_entry(0x010F, "Nikon")], [rational_entry(0x9003, 0, 0)])
    path = photo(tmp_path / "nan.jpg", exif)
    assert main(["info", str(path), "--json"]) == 0
    facts = strict_json(capsys.readouterr().out)
    assert facts["exif"]["camera_make"] == "Nikon"
    assert "captured" not in facts["exif"]


# --- item 12: CSV escapes non-UTF-8 file names as JSON does ------------------------------------


def test_csv_escapes_non_utf8_names_like_json(tmp_path, small_model, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9.jpg")  # Latin-1 bytes: not valid UTF-8
    (folder / name).write_bytes(b"\xff\xd8\xff\xe0 truncated")
    from forensic_viewer.cli_predict import csv_text

    assert csv_text(str(folder / name)) == str(folder) + "/caf\\udce9.jpg"
    assert csv_text("naïve.jpg") == "naïve.jpg"
    # The whole command, as a strict UTF-8 reader of its CSV sees it.
    outputs = {}
    for fmt in ("--csv", "--json"):
        raw = io.BytesIO()
        # what cli.main does to stdout, so undecodable names print instead of crashing
        stream = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape")
        monkeypatch.setattr(sys, "stdout", stream)
        assert run_predict([str(folder), "--model", str(small_model), fmt]) == 1
        stream.flush()
        outputs[fmt] = raw.getvalue().decode("utf-8")  # strict: raises on raw Latin-1 bytes
    rows = list(csv.DictReader(io.StringIO(outputs["--csv"])))
    assert [row["path"] for row in rows] == [str(folder) + "/caf\\udce9.jpg"]
    assert rows[0]["error"].startswith("caf\\udce9.jpg: ")
    assert json.loads(outputs["--json"])[0]["path"] == str(folder / name)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    import torch

    from forensic_viewer.ml.model import ElaCnn
    from forensic_viewer.ml.modelfile import ModelCard, save_model
    from forensic_viewer.ml.preprocess import Recipe

    torch.manual_seed(3)
    card = ModelCard(name="csv-test", recipe=Recipe(name="small", size=32).as_dict())
    return save_model(tmp_path_factory.mktemp("m") / "csv-test", ElaCnn(input_size=32), card)


def run_predict(argv: list[str]) -> int:
    import argparse

    from forensic_viewer import cli_predict

    parser = argparse.ArgumentParser(prog="forensic-viewer")
    cli_predict.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["predict", *argv])
    return args.func(args)


# --- items 2 and 4: ela -o refuses existing outputs and fails in one line ----------------------


def ela(argv: list[str], capsys) -> tuple[int, str]:
    code = main(["ela", *argv])
    err = capsys.readouterr().err
    return code, err


@pytest.fixture
def no_compute(monkeypatch):
    """Fails the test if the ELA is computed: output problems must be found before that."""
    import forensic_viewer.core.ela as ela_module

    def refuse(*args, **kwargs):
        raise AssertionError("the ELA was computed before the output was checked")

    monkeypatch.setattr(ela_module, "ela", refuse)


def test_existing_output_is_refused_without_force(tmp_path, capsys, no_compute):
    source = photo(tmp_path / "in.jpg")
    other = tmp_path / "other-evidence.png"
    Image.new("RGB", (8, 8), "red").save(other)
    digest = sha256_file(other)
    (tmp_path / "old.png").write_bytes(b"old")
    for out in (other, tmp_path / "old.png"):
        code, err = ela([str(source), "-o", str(out)], capsys)
        assert code == 2
        assert err.count("\n") == 1 and f"{out.name} exists (use --force to replace it)" in err
    assert sha256_file(other) == digest


def test_force_replaces_an_existing_output(tmp_path, capsys):
    source = photo(tmp_path / "in.jpg")
    out = tmp_path / "ela.png"
    out.write_bytes(b"old")
    assert main(["ela", str(source), "-o", str(out), "--force"]) == 0
    assert Image.open(out).size == (40, 24)
    assert main(["ela", str(source), "-o", str(source), "--force"]) == 2
    assert "refusing to write over the input image" in capsys.readouterr().err


def _one_line(err: str) -> None:
    assert err.count("\n") == 1 and err.startswith("forensic-viewer: error: "), err
    assert "Traceback" not in err


def test_output_errors_are_one_line_before_any_work(tmp_path, capsys, no_compute):
    source = photo(tmp_path / "in.jpg")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    folder = tmp_path / "folder.png"
    folder.mkdir()
    cases = {
        str(a_file / "out.png"): "is not a folder",
        str(folder): "is a folder",
        "/proc/out.png": "cannot write",
        str(tmp_path / ("n" * 300 + ".png")): "file name is too long",
    }
    for out, expected in cases.items():
        code, err = ela([str(source), "-o", out, "--force"], capsys)
        assert code == 2, out
        _one_line(err)
        assert expected in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.png", "in.jpg", "notes.txt"]


def test_unwritable_folder_is_one_line(tmp_path, capsys, no_compute, monkeypatch):
    source = photo(tmp_path / "in.jpg")
    locked = tmp_path / "locked"
    locked.mkdir()

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(locked))

    # root may write into a 0555 folder, so the refusal of the operating system is simulated
    monkeypatch.setattr(atomic.tempfile, "mkstemp", denied)
    code, err = ela([str(source), "-o", str(locked / "out.png")], capsys)
    assert code == 2
    _one_line(err)
    assert "cannot write into" in err and "Permission denied" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_read_only_folder_is_one_line(tmp_path, capsys, no_compute):
    source = photo(tmp_path / "in.jpg")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        code, err = ela([str(source), "-o", str(locked / "out.png")], capsys)
    finally:
        locked.chmod(0o755)
    assert code == 2
    _one_line(err)


def test_long_but_legal_name_is_written(tmp_path, capsys):
    source = photo(tmp_path / "in.jpg")
    out = tmp_path / ("n" * 251 + ".png")  # 255 bytes: the longest legal name
    assert main(["ela", str(source), "-o", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jpg", out.name]


def test_symlink_loop_input_with_existing_output(tmp_path, capsys):
    loop = tmp_path / "loop.jpg"
    loop.symlink_to(loop)
    out = tmp_path / "out.png"
    out.write_bytes(b"old")
    assert same_file(loop, out) is False
    for extra in ([], ["--force"]):
        code, err = ela([str(loop), "-o", str(out), *extra], capsys)
        assert code == 2
        _one_line(err)
    assert out.read_bytes() == b"old"


def test_write_failure_after_compute_is_one_line(tmp_path, capsys, monkeypatch):
    source = photo(tmp_path / "in.jpg")

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli, "_save_image", full)
    code, err = ela([str(source), "-o", str(tmp_path / "o.png")], capsys)
    assert code == 2
    _one_line(err)
    assert "No space left on device" in err


def test_training_thumbnail_survives_exif_that_pillow_cannot_rewrite(tmp_path):
    """Pillow's exif_transpose raises on a rational Make beside Orientation 6; the wizard's
    thumbnail still shows the picture, rotated as the Orientation says."""
    from forensic_viewer.ui.training.pages import _thumbnail

    exif = exif_block([(0x0112, SHORT, 1, b"\x06\x00"), rational_entry(0x010F, 0, 0)])
    path = photo(tmp_path / "rational-make.jpg", exif)
    thumbnail = _thumbnail(path, 32)
    assert thumbnail is not None and thumbnail.shape == (32, 19, 3)  # 40 x 24, turned upright


@pytest.mark.parametrize(
    "offset",
    [ascii_entry(0x0201, "six"), rational_entry(0x0201, 0, 0), rational_entry(0x0201, 1, 0)],
)
def test_exif_thumbnail_with_a_text_or_rational_offset_is_no_thumbnail(tmp_path, offset):
    from forensic_viewer.core.thumbnail import exif_thumbnail_bytes

    exif = exif_block(
        [ascii_entry(0x010F, "Canon")], ifd1=[offset, (0x0202, LONG, 1, b"\x10\0\0\0")]
    )
    path = photo(tmp_path / "thumb.jpg", exif)
    assert exif_thumbnail_bytes(path) is None
    assert load_image(path).facts.exif["camera_make"] == "Canon"
