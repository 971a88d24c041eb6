"""Atomic file writes: a temporary file in the destination folder, fsync, then rename.

A reader sees the old file or the new one, never half of one, even if the writer dies.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import OutputPathError


@contextlib.contextmanager
def atomic_open(path: str | Path) -> Iterator[BinaryIO]:
    """Open a binary file for writing that replaces ``path`` only when the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(target), suffix=".tmp", dir=target.parent)
    try:
        # mkstemp creates 0600 files; give the result the mode any other program's file would get.
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def temp_prefix(target: Path) -> str:
    """``.NAME.`` with NAME shortened, so a legal 255-byte name still gets a legal temp name."""
    return f".{target.name[:100]}."


def check_writable(path: str | Path) -> Path:
    """Raise OutputPathError (one sentence) unless a file could be written at ``path``.

    Called before long work, so a mistyped output is reported at once. Missing folders are
    fine (the write creates them); the probe file is removed again.
    """
    target = Path(path)
    check_name_lengths(target)
    if target.is_dir():
        raise OutputPathError(f"{target} is a folder; give a file name for the output")
    folder = _existing_ancestor(target)
    if not folder.is_dir():
        raise OutputPathError(f"cannot write {target}: {folder} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".forensic-viewer-probe.", dir=folder)
    except OSError as error:
        raise OutputPathError(f"cannot write into {folder} ({error.strerror or error})") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return target


def _existing_ancestor(path: Path) -> Path:
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_name_lengths(path: str | Path) -> None:
    """OutputPathError for a path component longer than the file system allows (255 bytes),
    before anything calls stat() on it (which fails with a bare OSError)."""
    name_max = 255
    with contextlib.suppress(OSError, ValueError):
        name_max = os.pathconf(_existing_ancestor(Path(path)), "PC_NAME_MAX")
    for part in Path(path).parts:
        size = len(os.fsencode(part))
        if size > name_max:
            raise OutputPathError(
                f"cannot write {part[:40]}...: the file name is too long "
                f"({size} bytes, at most {name_max})"
            )


def current_umask() -> int:
    """The process umask, read without changing it (os.umask would race with other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path) as handle:
        handle.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_with(path: str | Path, writer: Callable[[BinaryIO], None]) -> None:
    """Let ``writer`` fill a file object (e.g. ``image.save(f, "PNG")``) and commit atomically."""
    with atomic_open(path) as handle:
        writer(handle)


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when two paths name the same file (also through links or different spellings).

    Never raises: a path that cannot be resolved (a symlink loop, a too-long name) is compared
    by its spelling, and an error in reading it is reported by whoever opens it.
    """
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        pass
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError, ValueError):  # RuntimeError: symlink loop (Python < 3.13)
        return Path(a).absolute() == Path(b).absolute()
