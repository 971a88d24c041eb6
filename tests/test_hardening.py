"""The bad-input corpus (tests/badinput.py) through the CLI: `info` and `ela`.

For every case: exit 2 with exactly one clear stderr line naming the file, or exit 0 with the
right result (facts from the file, ELA equal to the classic recipe on the right pixels). Either
way the evidence bytes stay the same and nothing appears beside them, even with the working
directory set to the evidence folder (the classic recipe wrote ``resaved.jpg`` there).

Every case runs in-process through ``forensic_viewer.cli.main`` with file-descriptor capture (so
warnings printed by C libraries count as output too); a few also run as real
``python -m forensic_viewer`` processes, including under a strict UTF-8 locale.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from badinput import BadInput, expected_rgb, make_corpus, snapshot
from PIL import Image

from forensic_viewer import cli_predict
from forensic_viewer.cli import main
from forensic_viewer.core.ela import classic_ela_pillow
from forensic_viewer.core.images import sha256_file

REPO = Path(__file__).resolve().parents[1]
ERROR_PREFIX = "forensic-viewer: error: "

CASE_IDS = [
    "zero-bytes",
    "text-named-jpg",
    "truncated-soi-only",
    "truncated-in-headers",
    "truncated-before-scan",
    "truncated-scan-start",
    "truncated-quarter",
    "truncated-half",
    "truncated-three-quarters",
    "truncated-no-eoi",
    "corrupt-huffman",
    "png-bad-crc",
    "bomb-png",
    "bomb-jpeg",
    "1x1-jpeg",
    "1x1-png",
    "65000x1-png",
    "65000x1-jpeg",
    "cmyk-jpeg",
    "16-bit-png",
    "palette-transparency",
    "la-png",
    *(f"exif-orientation-{n}" for n in range(1, 9)),
    "animated-gif",
    "multi-page-tiff",
    "no-read-permission",
    "non-ascii-spaces",
    "non-utf8-name",
    "symlink-loop",
    "dangling-symlink",
    "folder-named-jpg",
    "fifo-named-jpg",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, BadInput]:
    folder = tmp_path_factory.mktemp("evidence")
    return {case.id: case for case in make_corpus(folder)}


@pytest.fixture(scope="module")
def baseline(corpus) -> dict:
    return snapshot(_corpus_root(corpus))


def _corpus_root(corpus: dict[str, BadInput]) -> Path:
    return corpus["zero-bytes"].path.parent


def test_corpus_has_every_case(corpus):
    assert list(corpus) == CASE_IDS
    assert corpus["bomb-png"].path.stat().st_size < 2_000  # a bomb is tiny on disk


def run_cli(argv: list[str], capfd) -> tuple[int, str, str]:
    capfd.readouterr()
    code = main(argv)
    out, err = capfd.readouterr()
    return code, out, err


def assert_one_clear_error_line(case: BadInput, out: str, err: str) -> str:
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, f"{case.id}: expected one stderr line, got {lines!r}"
    line = lines[0]
    assert line.startswith(ERROR_PREFIX), line
    assert "Traceback" not in line
    assert f"{case.path.name}: " in line, f"{case.id}: the line does not name the file: {line!r}"
    assert any(kind.reason in line for kind in case.error), (
        f"{case.id}: expected one of {[k.__name__ for k in case.error]}, got {line!r}"
    )
    return line


def assert_evidence_untouched(corpus, baseline, out_dir: Path) -> None:
    assert snapshot(_corpus_root(corpus)) == baseline
    leftovers = [p.name for p in out_dir.iterdir() if p.name.startswith(".")]
    assert leftovers == [], f"temporary files left in the output folder: {leftovers}"


def expected_ela(case: BadInput) -> np.ndarray:
    """The classic recipe (Pillow, in memory) on the pixels a correct loader returns; for a
    cut-off file, on its decoded rows, with the missing rows blank (black)."""
    rendering = np.asarray(classic_ela_pillow(Image.fromarray(expected_rgb(case)), 90), np.uint8)
    missing = case.size[1] - rendering.shape[0]
    return np.pad(rendering, ((0, missing), (0, 0), (0, 0)))


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_cli_info_and_ela(case_id, corpus, baseline, tmp_path, capfd, monkeypatch):
    case = corpus[case_id]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    output = out_dir / "ela.png"
    monkeypatch.chdir(_corpus_root(corpus))

    info_code, info_out, info_err = run_cli(["info", "--json", str(case.path)], capfd)
    ela_code, ela_out, ela_err = run_cli(["ela", str(case.path), "-o", str(output)], capfd)

    if not case.opens:
        assert (info_code, ela_code) == (2, 2)
        assert_one_clear_error_line(case, info_out, info_err)
        assert_one_clear_error_line(case, ela_out, ela_err)
        assert not output.exists()
    else:
        assert (info_code, ela_code) == (0, 0), info_err + ela_err
        assert info_err == "" and ela_err == ""
        facts = json.loads(info_out)
        assert (facts["width"], facts["height"]) == case.size
        assert facts["mode"] == case.mode
        assert facts["frames"] == case.frames
        assert facts["exif_orientation"] == case.orientation
        assert facts["sha256"] == sha256_file(case.path)
        assert facts["file_size"] == case.path.stat().st_size
        assert facts["decoded_rows"] == case.decoded_rows
        if case.decoded_rows is not None:
            assert f"; truncated file, rows 0-{case.decoded_rows - 1} of 96 decoded (" in ela_out
        if case.corrupt_but_decodable:
            said = " ".join(facts["notes"] + facts["warnings"]).lower()
            assert "corrupt" in said, f"{case.id}: opened without saying the data is corrupt"
        assert ela_out.startswith(f"{output}: ELA q=90 ")
        with Image.open(output) as written:
            assert written.format == "PNG" and written.size == case.size
            rendering = np.asarray(written.convert("RGB"))
        assert np.array_equal(rendering, expected_ela(case))
    assert_evidence_untouched(corpus, baseline, out_dir)


def test_output_link_to_the_evidence_is_refused(corpus, baseline, tmp_path, capfd):
    evidence = corpus["non-ascii-spaces"].path
    link = tmp_path / "looks-like-an-output.png"
    link.symlink_to(evidence)
    code, out, err = run_cli(["ela", str(evidence), "-o", str(link)], capfd)
    assert code == 2 and out == ""
    assert err.startswith(ERROR_PREFIX + "refusing to write over the input image")
    assert len(err.splitlines()) == 1
    assert link.is_symlink() and os.readlink(link) == str(evidence)
    assert_evidence_untouched(corpus, baseline, tmp_path)


def run_process(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO), **env}
    return subprocess.run(
        [sys.executable, "-m", "forensic_viewer", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_real_process_error_is_one_line(corpus, baseline):
    case = corpus["truncated-quarter"]
    result = run_process(["info", str(case.path)], cwd=case.path.parent)
    assert result.returncode == 2
    assert result.stdout == b""
    assert result.stderr.decode() == (
        f"{ERROR_PREFIX}cut-quarter.jpg: the image is truncated or corrupt "
        "(the data stops before the first complete row of pixels)\n"
    )
    assert snapshot(_corpus_root(corpus)) == baseline


def test_real_process_non_ascii_path(corpus, baseline, tmp_path):
    case = corpus["non-ascii-spaces"]
    output = tmp_path / "ausgabe ü.png"
    result = run_process(["ela", str(case.path), "-o", str(output)], cwd=case.path.parent)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stderr == b""
    with Image.open(output) as written:
        assert np.array_equal(np.asarray(written), expected_ela(case))
    assert snapshot(_corpus_root(corpus)) == baseline


def test_real_process_name_not_utf8_under_strict_locale(corpus, baseline):
    case = corpus["non-utf8-name"]
    result = run_process(
        ["info", str(case.path)], cwd=case.path.parent, PYTHONIOENCODING="utf-8:strict"
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"Traceback" not in result.stderr
    assert os.fsencode(case.path) in result.stdout  # the name as its original bytes
    assert snapshot(_corpus_root(corpus)) == baseline


def test_cli_predict_over_the_whole_corpus(corpus, baseline, tmp_path, capfd, monkeypatch):
    """One batch over every case: a row each (a verdict or the load error), exit 1, no crash."""
    import torch

    from forensic_viewer.ml.model import ElaCnn
    from forensic_viewer.ml.modelfile import ModelCard, save_model
    from forensic_viewer.ml.preprocess import Recipe

    torch.manual_seed(0)
    recipe = Recipe(name="small", size=32)
    model = save_model(
        tmp_path / "models" / "small",
        ElaCnn(input_size=32),
        ModelCard(name="small", recipe=recipe.as_dict(), threshold=0.5),
    )
    monkeypatch.chdir(_corpus_root(corpus))
    paths = [str(case.path) for case in corpus.values()]
    code, out, err = run_cli(["predict", *paths, "--model", str(model), "--json"], capfd)
    rows = json.loads(out)
    # a folder named like an image is searched for images (it has none), not a row of its own
    files = [case for case in corpus.values() if not case.path.is_dir()]
    assert code == 1 and len(files) == len(corpus) - 1
    for case, row in zip(files, rows, strict=True):
        assert row["path"] == str(case.path)
        if case.opens:
            assert set(row) == set(cli_predict.JSON_FIELDS), case.id
            assert row["sha256"] == sha256_file(case.path), case.id
            assert row["model"] == "small", case.id
            if row["verdict"] == "inconclusive":  # e.g. PNG, GIF, tiny: no number, a reason
                assert row["p_tampered"] is None and row["reason"], case.id
            else:
                assert 0.0 <= row["p_tampered"] <= 1.0, case.id
        else:
            assert set(row) == {"path", "error"}, case.id
            assert any(kind.reason in row["error"] for kind in case.error), (case.id, row)
    assert "Traceback" not in err
    assert_evidence_untouched(corpus, baseline, tmp_path)
