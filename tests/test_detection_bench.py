"""The detection benchmark: its suite is fixed, its figures are right, its command runs."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from forensic_viewer.ml.detection_metrics import Scored, pixel_scores, summarise
from forensic_viewer.ml.scorers import ElaBlockScorer, block_means, load_scorer, state_for
from forensic_viewer.ml.suite import (
    SuiteItem,
    SuiteParams,
    build_suite_iter,
    load_suite,
    suite_folder,
)
from forensic_viewer.ml.synthetic import INNOCENT_KINDS, TAMPERED_KINDS

ROOT = Path(__file__).resolve().parents[1]


def _picture(seed: int, height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 32 + 2, width // 32 + 2, 3)).astype(np.uint8)
    base = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    return np.clip(base + rng.normal(0, 6, (height, width, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    """Three photos of held-out makes and one of a training make (which the suite must skip)."""
    folder = tmp_path_factory.mktemp("camera")
    rows = ["file\tmake\tmodel"]
    for index, make in enumerate(["kodak", "nokia", "sony", "htc"]):
        name = f"{make}_{index}.jpg"
        Image.fromarray(_picture(index, 200, 260)).save(folder / name, quality=95)
        rows.append(f"{name}\t{make}\tM{index}")
    (folder / "MANIFEST.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def casia_folder(tmp_path_factory):
    """A CASIA-like folder: 10 authentic photos and 10 copy-moves of them, with masks."""
    folder = tmp_path_factory.mktemp("casia")
    for sub in ("authentic", "tampered", "masks"):
        (folder / sub).mkdir()
    for index in range(1, 11):
        Image.fromarray(_picture(100 + index, 96, 128)).save(
            folder / "authentic" / f"Au_ani_{index:04d}.jpg", quality=90
        )
        stem = f"Sp_S_NRN_A_ani{index:04d}_ani{index:04d}_{index:04d}"
        Image.fromarray(_picture(200 + index, 96, 128)).save(
            folder / "tampered" / f"{stem}.jpg", quality=95
        )
        mask = np.zeros((96, 128), np.uint8)
        mask[20:50, 30:70] = 255
        Image.fromarray(mask).save(folder / "masks" / f"{stem}.png")
    return folder


def _hashes(items: list[SuiteItem]) -> list[tuple[str, int, str, str]]:
    return [
        (i.kind, i.label, i.quality, hashlib.sha256(Path(i.file).read_bytes()).hexdigest())
        for i in items
    ]


def test_suite_is_fixed_and_cached(photo_folder, casia_folder, tmp_path, monkeypatch):
    params = SuiteParams(str(photo_folder), str(casia_folder), per_photo=5, max_side=128)
    events = list(build_suite_iter(params))
    assert (
        events[-1].done
        == events[-1].total
        == 3 * 5 + 3 * len([i for i in load_suite(params) if i.category == "casia"])
    )
    first = load_suite(params)
    assert list(build_suite_iter(params)) == []  # cached: nothing to build
    assert {i.make for i in first if i.category == "camera"} == {"kodak", "nokia", "htc"}
    camera = [i for i in first if i.category == "camera"]
    assert len(camera) == 45
    assert sorted({i.kind for i in camera}) == sorted(
        {*TAMPERED_KINDS, *INNOCENT_KINDS, "pair_authentic"}
    )
    casia = [i for i in first if i.category != "camera"]
    assert {i.category for i in casia} == {"casia", "casia-q75", "casia-q90"}
    # Re-saved CASIA files are saved at the named quality, both classes alike.
    for item in casia:
        if item.category == "casia-q75":
            with Image.open(item.file) as image:
                assert image.quantization[0][0] == 8  # luminance DC step of IJG quality 75
    # The same data through another path is the same suite.
    link = tmp_path / "photos-link"
    link.symlink_to(photo_folder)
    assert suite_folder(replace(params, photos=str(link))) == suite_folder(params)
    assert suite_folder(replace(params, seed=1)) != suite_folder(params)
    # Built again from nothing elsewhere: the same bytes.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "other-cache"))
    list(build_suite_iter(params))
    second = load_suite(params)
    assert {i.file for i in second} != {i.file for i in first}
    assert _hashes(second) == _hashes(first)


def _item(kind: str, label: int, group: str, quality: str = "q75", category: str = "camera"):
    return SuiteItem(f"/x/{group}_{kind}.jpg", label, kind, category, group, quality)


def _scored(item: SuiteItem, p, pixel_auc=None, pixel_f1=None, state=None) -> Scored:
    over = None if p is None else p >= 0.5
    return Scored(item, p, state or state_for(p, 0.5), pixel_auc, pixel_f1, over)


def test_figures_on_a_made_up_suite():
    rows = [
        _scored(_item("splice_web", 1, "g1"), 0.9, 0.8, 0.5),
        _scored(_item("pair_authentic", 0, "g1"), 0.2),
        _scored(_item("splice_web", 1, "g2", "q95"), 0.4, 0.6, 0.1),
        _scored(_item("pair_authentic", 0, "g2", "q95"), 0.6),
        _scored(_item("copy_move", 1, "g3"), None),
        _scored(_item("pair_authentic", 0, "g3"), 0.3),
        _scored(_item("original", 0, "g1", "camera"), 0.95, state="inconclusive"),  # gated
        _scored(_item("messenger", 0, "g2"), 0.1),
        _scored(_item("Au", 0, "c1", "as is", "casia"), 0.1),
        _scored(_item("Au", 0, "c2", "as is", "casia"), 0.6),
        _scored(_item("Tp", 1, "c1", "as is", "casia"), 0.7, 0.9, 0.4),
        _scored(_item("Tp", 1, "c2", "as is", "casia"), 0.5, 0.7, 0.2),
    ]
    summary = summarise(rows)
    web = summary["camera"]["tampering"]["splice_web"]
    assert web == {
        "n": 2,
        "auc": 0.75,  # 0.9 > 0.2, 0.9 > 0.6, 0.4 > 0.2, 0.4 < 0.6
        "flagged": 0.5,
        "inconclusive": 0.0,
        "over_threshold": 0.5,
        "pixel_auc": pytest.approx(0.7),
        "pixel_f1": pytest.approx(0.3),
    }
    copy = summary["camera"]["tampering"]["copy_move"]
    assert math.isnan(copy["auc"]) and copy["inconclusive"] == 1.0 and copy["flagged"] == 0.0
    everything = summary["camera"]["tampering"]["all tampering"]
    assert everything["n"] == 3 and everything["auc"] == pytest.approx(5 / 6)
    authentic = summary["camera"]["authentic"]
    assert authentic["original"] == {
        "n": 1,
        "flagged": 0.0,
        "inconclusive": 1.0,
        "over_threshold": 1.0,
    }
    assert authentic["messenger"] == {
        "n": 1,
        "flagged": 0.0,
        "inconclusive": 0.0,
        "over_threshold": 0.0,
    }
    assert authentic["all authentic"]["inconclusive"] == pytest.approx(1 / 5)
    assert authentic["pair_authentic"]["flagged"] == pytest.approx(1 / 3)
    assert math.isnan(authentic["crop"]["flagged"]) and authentic["crop"]["n"] == 0
    q75 = summary["camera"]["quality"]["q75"]
    assert (q75["n"], q75["auc"], q75["pair_authentic_flagged"]) == (2, 1.0, 0.0)
    assert (q75["innocent_n"], q75["innocent_flagged"]) == (1, 0.0)
    assert summary["camera"]["quality"]["q95"]["auc"] == 0.0
    casia = summary["casia"]
    assert casia["auc"] == 0.75 and casia["authentic_flagged"] == 0.5 and casia["flagged"] == 1.0
    assert casia["authentic_over_threshold"] == 0.5
    assert casia["pixel_auc"] == pytest.approx(0.8) and casia["pixel_f1"] == pytest.approx(0.3)
    assert "casia-q75" not in summary


def test_pixel_scores_exact():
    mask = np.array([[True, False], [False, False]])
    heat = np.array([[0.9, 0.2], [0.6, 0.1]], np.float32)
    auc, f1 = pixel_scores(mask, heat, 0.5)
    assert auc == 1.0 and f1 == pytest.approx(2 / 3)
    auc, f1 = pixel_scores(mask, np.full((2, 2), 0.3, np.float32), 0.5)
    assert auc == 0.5 and f1 == 0.0
    with pytest.raises(ValueError, match="does not match"):
        pixel_scores(mask, heat[:1], 0.5)


def test_block_means_and_the_ela_scorer():
    values = np.arange(10 * 9, dtype=np.float64).reshape(10, 9)
    means = block_means(values)
    assert means.shape == (2, 2)
    assert means[0, 0] == values[:8, :8].mean() and means[1, 1] == values[8:, 8:].mean()
    rgb = _picture(5, 64, 80)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=85)
    result = ElaBlockScorer().score(buffer.getvalue())
    assert result.map.shape == (64, 80) and result.map.max() == 1.0
    assert 0.0 <= result.p <= 1.0 and result.verdict_state == state_for(result.p, 0.5)
    assert ElaBlockScorer().score(buffer.getvalue(), want_map=False).map is None


def test_load_scorer_refuses_unknown_models(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_scorer(tmp_path / "missing.safetensors")
    (tmp_path / "m.safetensors").write_bytes(b"x")
    (tmp_path / "m.json").write_text(json.dumps({"architecture": "Nope"}))
    with pytest.raises(ValueError, match="'Nope' has no scorer"):
        load_scorer(tmp_path / "m.safetensors")


def _bench():
    spec = importlib.util.spec_from_file_location("bench_detection", ROOT / "bench/detection.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_command_runs_end_to_end(photo_folder, casia_folder, tmp_path, capsys):
    out = tmp_path / "report.json"
    argv = ["--scorer", "ela-blocks", "--photos", str(photo_folder), "--casia", str(casia_folder)]
    argv += ["--max-photos", "2", "--max-side", "128", "--json", str(out), "--quiet"]
    assert _bench().main(argv) == 0
    report = json.loads(out.read_text())
    summary = report["results"]["ela-blocks"]["summary"]
    assert {k: v["n"] for k, v in summary["camera"]["tampering"].items()} == {
        **{k: 2 for k in TAMPERED_KINDS},
        "all tampering": 10,
    }
    assert summary["camera"]["authentic"]["all authentic"]["n"] == 20
    assert set(summary) == {"camera", "casia", "casia-q75", "casia-q90"}
    printed = capsys.readouterr().out
    assert "### Camera originals, held-out makes" in printed and "casia-q90" in printed
    rows = report["results"]["ela-blocks"]["images_scored"]
    assert (
        len(rows)
        == report["results"]["ela-blocks"]["images"]
        == 30 + 3 * len([r for r in rows if r["category"] == "casia"])
    )
    # Earlier runs' JSON files give the same tables.
    assert _bench().main(["--combine", str(out)]) == 0
    tables = capsys.readouterr().out
    assert tables.split("### Scoring time")[0] in printed


def test_the_command_fails_in_one_line(tmp_path, capsys):
    argv = ["--model", str(tmp_path / "none.safetensors"), "--no-casia", "--quiet"]
    assert _bench().main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("detection: ") and "none.safetensors" in err[0]


def test_verdict_gate_follows_the_default_models_domain():
    from forensic_viewer.ml import modelformat
    from forensic_viewer.ml.scorers import verdict_gate

    card, _ = modelformat.read_card(ROOT / "models" / "default.safetensors")

    def jpeg(height: int, width: int) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(_picture(3, height, width)).save(buffer, "JPEG", quality=90)
        return buffer.getvalue()

    assert verdict_gate(jpeg(256, 384), card) is None  # CASIA's size and quality: it may run
    reason = verdict_gate(jpeg(512, 512), card)
    assert reason.startswith("outside what model default was validated on")
