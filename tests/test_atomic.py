"""core.atomic: writers killed mid-way leave the old file intact, and the unit behaviour.

The kill tests run real writers in subprocesses and SIGKILL them while the temporary file is
half written: a byte stream through ``atomic_open``, a model through ``save_model``, and the
``ela`` command. Afterwards the old file must be byte-identical, and the debris (a hidden
``.NAME.XXXX.tmp``) must not pass for an image or a model.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forensic_viewer.core.atomic import (
    atomic_open,
    atomic_write_bytes,
    atomic_write_text,
    atomic_write_with,
    same_file,
)
from forensic_viewer.core.images import is_image_path

REPO = Path(__file__).resolve().parents[1]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def debris(folder: Path, name: str) -> list[Path]:
    return sorted(folder.glob(f".{name}.*.tmp"))


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------- unit tests


def test_write_bytes_creates_and_replaces(tmp_path):
    target = tmp_path / "nested" / "deeper" / "report.json"
    atomic_write_bytes(target, b"first")
    assert target.read_bytes() == b"first"
    atomic_write_bytes(target, b"second, longer")
    assert target.read_bytes() == b"second, longer"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]


def test_write_text_is_utf8(tmp_path):
    target = tmp_path / "note.txt"
    atomic_write_text(target, "Beweisstück 証拠 ✓\n")
    assert target.read_bytes() == "Beweisstück 証拠 ✓\n".encode()


def test_write_with_a_pillow_writer(tmp_path):
    target = tmp_path / "ela.png"
    array = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    atomic_write_with(target, lambda handle: Image.fromarray(array).save(handle, "PNG"))
    with Image.open(target) as image:
        assert np.array_equal(np.asarray(image), array)


@pytest.mark.parametrize("failure", [ValueError("encoder failed"), KeyboardInterrupt()])
def test_failure_inside_the_block_keeps_the_old_file_and_cleans_up(tmp_path, failure):
    target = tmp_path / "model.json"
    target.write_bytes(b"old contents")
    with pytest.raises(type(failure)), atomic_open(target) as handle:
        handle.write(b"new contents that never land")
        raise failure
    assert target.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]


def test_temporary_file_is_hidden_beside_the_target_until_commit(tmp_path):
    target = tmp_path / "grid.png"
    with atomic_open(target) as handle:
        handle.write(b"partial")
        (temporary,) = debris(tmp_path, "grid.png")
        assert temporary.parent == tmp_path  # same folder: the rename is atomic
        assert not target.exists()
        assert not is_image_path(temporary)
    assert not temporary.exists()
    assert target.read_bytes() == b"partial"


def test_writing_through_a_symlink_replaces_the_link_not_its_target(tmp_path):
    evidence = tmp_path / "evidence.png"
    evidence.write_bytes(b"evidence bytes")
    link = tmp_path / "out.png"
    link.symlink_to(evidence)
    atomic_write_bytes(link, b"export")
    assert evidence.read_bytes() == b"evidence bytes"
    assert not link.is_symlink() and link.read_bytes() == b"export"


def test_new_files_follow_the_umask(tmp_path):
    target = tmp_path / "export.png"
    atomic_write_bytes(target, b"x")
    assert target.stat().st_mode & 0o777 == 0o666 & ~current_umask()


def test_same_file(tmp_path):
    a = tmp_path / "a.jpg"
    b = tmp_path / "b.jpg"
    a.write_bytes(b"a")
    b.write_bytes(b"a")  # same bytes, different file
    hard = tmp_path / "hard.jpg"
    os.link(a, hard)
    soft = tmp_path / "soft.png"
    soft.symlink_to(a)
    (tmp_path / "sub").mkdir()
    assert same_file(a, a)
    assert same_file(a, tmp_path / "sub" / ".." / "a.jpg")
    assert same_file(a, hard) and same_file(a, soft) and same_file(soft, hard)
    assert not same_file(a, b)
    assert not same_file(a, tmp_path / "missing.png")
    assert same_file(tmp_path / "missing.png", tmp_path / "sub" / ".." / "missing.png")


# ---------------------------------------------------------------- kill tests


def start(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(process: subprocess.Popen, expected: str, timeout: float = 60.0) -> None:
    """Block until the child prints ``expected`` (its 'I am mid-way' signal)."""
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if selector.select(timeout=0.5) and process.stdout.readline().strip() == expected:
            return
        if process.poll() is not None:
            raise AssertionError(
                f"writer exited early ({process.returncode}): {process.stderr.read()}"
            )
    process.kill()
    raise AssertionError(f"writer never printed {expected!r}")


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    process.stdout.close()
    process.stderr.close()


STREAM_WRITER = """
    import sys
    from forensic_viewer.core.atomic import atomic_open

    chunk = bytes(range(256)) * 4096  # 1 MiB
    with atomic_open(sys.argv[1]) as handle:
        for written in range(1, 1_000_000):
            handle.write(chunk)
            handle.flush()
            if written == 16:
                print("MIDWAY", flush=True)
"""


def test_killed_stream_writer_leaves_the_old_file(tmp_path):
    target = tmp_path / "export.png"
    old = b"\x89PNG old export " * 1000
    target.write_bytes(old)
    writer = start(STREAM_WRITER, str(target))
    wait_for_line(writer, "MIDWAY")
    (temporary,) = debris(tmp_path, target.name)
    assert temporary.stat().st_size >= 16 << 20  # really half-way through a large write
    kill(writer)
    assert target.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir() if is_image_path(p)] == ["export.png"]
    # The next successful write replaces the file; the dead writer's debris is only debris.
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert debris(tmp_path, target.name) == [temporary]


MODEL_WRITER = """
    import contextlib, os, sys, time
    import torch
    import forensic_viewer.ml.modelfile as modelfile
    from forensic_viewer.ml.model import ElaCnn

    real_atomic_open = modelfile.atomic_open

    @contextlib.contextmanager
    def stalling_atomic_open(path):
        # The real atomic_open; its first big write stops half-way and the writer waits there.
        with real_atomic_open(path) as handle:
            class HalfWriter:
                def write(self, data):
                    half = len(data) // 2
                    handle.write(data[:half])
                    handle.flush()
                    os.fsync(handle.fileno())
                    print("MIDWAY", flush=True)
                    time.sleep(600)
                def __getattr__(self, name):
                    return getattr(handle, name)
            yield HalfWriter()

    modelfile.atomic_open = stalling_atomic_open
    torch.manual_seed(2)
    modelfile.save_model(sys.argv[1], ElaCnn(), modelfile.ModelCard(name="new"), half=True)
"""


def test_killed_model_save_leaves_the_old_model_loadable(tmp_path):
    torch = pytest.importorskip("torch")
    from forensic_viewer.ml.model import ElaCnn
    from forensic_viewer.ml.modelfile import ModelCard, list_models, load_model, save_model

    torch.manual_seed(1)
    original = ElaCnn()
    weights = save_model(tmp_path / "mine", original, ModelCard(name="mine"), half=True)
    before = {p.name: digest(p) for p in tmp_path.iterdir()}
    assert list(before) == [weights.name]  # one file: the card is in its header

    writer = start(MODEL_WRITER, str(weights))
    wait_for_line(writer, "MIDWAY", timeout=120)
    (temporary,) = debris(tmp_path, weights.name)
    assert temporary.stat().st_size > 10 << 20
    kill(writer)

    assert {weights.name: digest(weights)} == before
    assert list_models(extra_dirs=[tmp_path])[-1:] == [weights]
    assert [p for p in list_models(extra_dirs=[tmp_path]) if p.parent == tmp_path] == [weights]
    loaded = load_model(weights)
    assert loaded.card.name == "mine"
    reference = original.state_dict()
    for key, tensor in loaded.model.state_dict().items():
        assert torch.equal(tensor, reference[key].half().float()), key


def test_killed_ela_command_leaves_old_output_or_the_complete_new_one(tmp_path):
    """The real CLI, killed as soon as its temporary PNG appears: never a half-written PNG."""
    source = tmp_path / "photo.jpg"
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (1500, 2000, 3), dtype=np.uint8)).save(source, quality=90)
    output = tmp_path / "out" / "ela.png"
    output.parent.mkdir()
    command = [sys.executable, "-m", "forensic_viewer", "ela", str(source), "-o", str(output)]
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(command, env=environment, check=True, capture_output=True, timeout=120)
    complete = output.read_bytes()
    old = b"an older export"
    output.write_bytes(old)

    # --force: the old export is replaced on purpose (without it, ela refuses at once)
    process = subprocess.Popen([*command, "--force"], env=environment, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while not debris(output.parent, output.name) and process.poll() is None:
        assert time.monotonic() < deadline, "the ela command never started writing"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL  # killed while writing, not after
    assert output.read_bytes() in (old, complete)
    assert [p.name for p in output.parent.iterdir() if is_image_path(p)] == ["ela.png"]
