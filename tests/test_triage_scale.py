"""Archive-scale triage: streaming result logs, --resume after a kill, and the Ray path."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from forensic_viewer.core.resultlog import ResultLog, ResultLogError, read_rows, row_key
from forensic_viewer.ml.model import ElaCnn
from forensic_viewer.ml.modelfile import ModelCard, save_model
from forensic_viewer.ml.preprocess import Recipe

SMALL = Recipe(name="small", size=32)
ROOT = Path(__file__).resolve().parents[1]


def make_jpeg(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(path, quality=85)
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    torch.manual_seed(5)
    card = ModelCard(name="scale-test", recipe=SMALL.as_dict(), threshold=0.5)
    return save_model(tmp_path_factory.mktemp("m") / "scale-test", ElaCnn(input_size=32), card)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    for i in range(24):
        make_jpeg(root / f"p{i:02d}.jpg", i)
    (root / "zz-broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    return root


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory):
    """Enough files for rows to arrive in several network batches (so a kill can fall between)."""
    root = tmp_path_factory.mktemp("many")
    for i in range(240):
        make_jpeg(root / f"p{i:03d}.jpg", i)
    return root


def cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "forensic_viewer", *args],
        capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def without_timing(rows) -> dict[str, dict]:
    return {row["path"]: {k: v for k, v in row.items() if k != "ms"} for row in rows}


# --- the log itself ---------------------------------------------------------------------------


def test_log_refuses_an_existing_file_and_a_folder(tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_text("keep me\n")
    with pytest.raises(ResultLogError, match="--resume"):
        ResultLog(out)
    assert out.read_text() == "keep me\n"
    with pytest.raises(ResultLogError, match="folder"):
        ResultLog(tmp_path)


def test_resume_cuts_a_torn_last_line_and_remembers_complete_rows(tmp_path):
    out = tmp_path / "r.jsonl"
    rows = [{"path": f"/a/{i}.jpg", "sha256": f"{i:064x}", "label": "authentic"} for i in range(3)]
    complete = "".join(json.dumps(r) + "\n" for r in rows)
    out.write_text(complete + '{"path": "/a/3.jpg", "sha2')  # a kill in the middle of a row
    with ResultLog(out, resume=True) as log:
        assert len(log.done) == 3
        assert log.is_done(f"{1:064x}", "/a/1.jpg")
        assert not log.is_done(f"{1:064x}", "/b/1.jpg")  # same bytes elsewhere: scored again
        assert not log.is_done(f"{3:064x}", "/a/3.jpg")
        log.write({"path": "/a/3.jpg", "sha256": f"{3:064x}", "label": "tampered"})
    assert (
        out.read_text()
        == complete
        + json.dumps(
            {"path": "/a/3.jpg", "sha256": f"{3:064x}", "label": "tampered"}, separators=(",", ":")
        )
        + "\n"
    )
    assert [r["path"] for r in read_rows(out)] == ["/a/0.jpg", "/a/1.jpg", "/a/2.jpg", "/a/3.jpg"]


def test_rows_are_ascii_json_and_never_nan(tmp_path):
    odd = os.fsdecode(b"/x/caf\xe9.jpg")  # not UTF-8: a surrogate escape
    with ResultLog(tmp_path / "r.jsonl") as log:
        log.write({"path": odd, "sha256": "0" * 64})
        with pytest.raises(ValueError):
            log.write({"path": "/y.jpg", "p_tampered": float("nan")})
    raw = (tmp_path / "r.jsonl").read_bytes()
    raw.decode("ascii")
    assert json.loads(raw.splitlines()[0])["path"] == odd
    assert row_key("0" * 64, odd) != row_key("0" * 64, "/x/cafe.jpg")


# --- predict --out ----------------------------------------------------------------------------


def test_out_streams_rows_keyed_by_sha256(model_path, folder, tmp_path):
    out = tmp_path / "r.jsonl"
    done = cli("predict", str(folder), "--model", str(model_path), "--out", str(out))
    assert done.returncode == 1, done.stderr  # the broken file
    assert done.stdout == ""
    rows = list(read_rows(out))
    assert len(rows) == 25
    for row in rows:
        expected = hashlib.sha256(Path(row["path"]).read_bytes()).hexdigest()
        assert row["sha256"] == expected
    assert sum("error" in r for r in rows) == 1
    again = cli("predict", str(folder), "--model", str(model_path), "--out", str(out))
    assert again.returncode == 2 and "already exists" in again.stderr
    assert len(list(read_rows(out))) == 25


def test_a_kill_then_resume_scores_every_file_exactly_once(model_path, big_folder, tmp_path):
    folder = big_folder
    reference = tmp_path / "all.jsonl"
    assert cli("predict", str(folder), "--model", str(model_path), "--out", str(reference))
    expected = without_timing(read_rows(reference))

    out = tmp_path / "killed.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "forensic_viewer", "predict", str(folder), "--model",
         str(model_path), "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size == 0):
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = list(read_rows(out))
    assert 0 < len(before) < 240, "the kill came too late to test anything"

    resumed = cli("predict", str(folder), "--model", str(model_path), "--out", str(out), "--resume")
    assert f"{len(before)} already in" in resumed.stderr
    rows = list(read_rows(out))
    paths = [r["path"] for r in rows]
    assert len(paths) == len(set(paths)) == 240  # none twice, none missed
    assert without_timing(rows) == expected


def test_out_needs_no_resume_flags_misused(model_path, folder, tmp_path):
    done = cli("predict", str(folder), "--model", str(model_path), "--resume")
    assert done.returncode == 2 and "need --out" in done.stderr
    image = folder / "p00.jpg"
    before = image.read_bytes()
    done = cli("predict", str(image), "--model", str(model_path), "--out", str(image), "--force")
    assert done.returncode == 2 and "evidence" in done.stderr
    assert image.read_bytes() == before


# --- Ray --------------------------------------------------------------------------------------


def ray_env(**extra: str) -> dict:
    # Workers import this checkout and this test module (for DiesOnce) by path.
    path = os.pathsep.join([str(ROOT), str(ROOT / "tests")])
    return {"env_vars": {"PYTHONPATH": path, **extra}}


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=ray_env())
    yield ray
    ray.shutdown()


class DiesOnce:
    """A scorer whose first batch kills its worker process, as a lost node would."""

    marker: str = ""

    def __init__(self, model_path: str, done=None, threads: int = 1) -> None:
        from forensic_viewer.ml.cluster import RayScorer

        self.inner = RayScorer(model_path, done, threads)

    def __call__(self, batch):
        marker = Path(os.environ["FV_TEST_DIE_ONCE"])
        try:
            marker.open("x").close()
        except FileExistsError:
            return self.inner(batch)
        os._exit(1)


def test_ray_rows_equal_the_local_run_and_a_killed_worker_loses_nothing(
    local_ray, model_path, folder, tmp_path, monkeypatch
):
    from forensic_viewer.ml.cluster import predict_ray

    reference = tmp_path / "all.jsonl"
    assert cli("predict", str(folder), "--model", str(model_path), "--out", str(reference))
    expected = without_timing(read_rows(reference))
    files = sorted(folder.iterdir())

    rows = list(predict_ray(files, model_path, workers=2))
    assert len(rows) == 25
    assert without_timing(rows) == expected

    marker = tmp_path / "died"
    monkeypatch.setenv("FV_TEST_DIE_ONCE", str(marker))
    # Workers inherit the environment of the Ray instance, not of this test: pass it along.
    local_ray.shutdown()
    local_ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False,
        runtime_env=ray_env(FV_TEST_DIE_ONCE=str(marker)),
    )  # fmt: skip
    rows = list(predict_ray(files, model_path, workers=2, scorer=DiesOnce, batch_files=4))
    assert marker.exists(), "no worker was killed"
    paths = [r["path"] for r in rows]
    assert len(paths) == len(set(paths)) == 25
    assert without_timing(rows) == expected


def test_ray_resume_skips_done_files(local_ray, model_path, folder, tmp_path):
    from forensic_viewer.ml.cluster import predict_ray

    reference = tmp_path / "all.jsonl"
    assert cli("predict", str(folder), "--model", str(model_path), "--out", str(reference))
    done = {row_key(r["sha256"], r["path"]) for r in list(read_rows(reference))[:10]}
    rows = list(predict_ray(sorted(folder.iterdir()), model_path, done=done, workers=2))
    assert sum(bool(r.get("skipped")) for r in rows) == 10
    assert len(rows) == 25


# --- the localiser goes through the same streaming route ---------------------------------------

LOCALISER = ROOT / "models" / "localiser.safetensors"


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory):
    """JPEGs the localiser analyses (inside its card's domain: sides of at least 256 px), one
    too small for its domain and a PNG (both inconclusive), a broken file (error)."""
    root = tmp_path_factory.mktemp("mixed")
    for i in range(5):
        rng = np.random.default_rng(i)
        pixels = rng.integers(0, 256, (256, 320, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"j{i}.jpg", quality=90)
    Image.fromarray(np.full((96, 128, 3), 128, np.uint8)).save(root / "small.jpg", quality=90)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(root / "p.png")
    (root / "x.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    return root


def test_localiser_rows_stream_with_sha256_and_resume(mixed_folder, tmp_path):
    out = tmp_path / "r.jsonl"
    done = cli("predict", str(mixed_folder), "--model", str(LOCALISER), "--out", str(out))
    assert done.returncode == 1, done.stderr  # the broken file
    rows = {Path(r["path"]).name: r for r in read_rows(out)}
    assert sorted(rows) == [
        "j0.jpg", "j1.jpg", "j2.jpg", "j3.jpg", "j4.jpg", "p.png", "small.jpg", "x.jpg"
    ]  # fmt: skip
    for name, row in rows.items():
        expected = hashlib.sha256((mixed_folder / name).read_bytes()).hexdigest()
        assert row["sha256"] == expected
    assert rows["p.png"]["verdict"] == "inconclusive" and rows["p.png"]["p_tampered"] is None
    assert rows["small.jpg"]["verdict"] == "inconclusive"
    assert rows["small.jpg"]["p_tampered"] is None  # outside the validated domain
    assert "error" in rows["x.jpg"]
    assert all(0.0 <= rows[f"j{i}.jpg"]["p_tampered"] <= 1.0 for i in range(5))
    again = cli(
        "predict", str(mixed_folder), "--model", str(LOCALISER), "--out", str(out), "--resume"
    )
    assert "8 already in" in again.stderr
    assert len(list(read_rows(out))) == 8


def test_ray_scores_with_the_localiser_like_one_process(local_ray, mixed_folder, tmp_path):
    from forensic_viewer.ml.cluster import predict_ray

    reference = tmp_path / "all.jsonl"
    cli("predict", str(mixed_folder), "--model", str(LOCALISER), "--out", str(reference))
    rows = list(predict_ray(sorted(mixed_folder.iterdir()), LOCALISER, workers=2))
    assert without_timing(rows) == without_timing(read_rows(reference))
