"""Append-only result logs (JSON Lines) for long batch runs that must survive a kill.

Each row is one JSON object on one line, written with a single ``write`` and flushed to the
operating system at once, so a SIGKILL loses at most the row being written; ``fsync`` runs every
few seconds, so a power cut loses at most those rows. On ``resume`` a torn last line (a row cut
in the middle by a kill) is cut off before anything is appended, and every complete row's key
(SHA-256 of the file's bytes plus its path) is remembered so the run skips what is done.

Only the keys are kept in memory, as 16-byte digests: about 100 bytes a file, so a resumed run
over 10 million files needs about 1 GB for them and a fresh run needs none.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import ForensicError

FSYNC_SECONDS = 2.0
"""How often rows are forced to disk (a kill loses nothing flushed; a power cut loses this)."""


class ResultLogError(ForensicError):
    """The result log cannot be used (exists without --resume, a folder, unwritable...)."""


def row_key(sha256: str, path: str) -> bytes:
    """The resume key of one file: its content hash and its path (a copy elsewhere is scored)."""
    text = f"{sha256}\0{path}".encode("utf-8", "surrogateescape")
    return hashlib.blake2b(text, digest_size=16).digest()


def read_rows(path: str | Path) -> Iterator[dict[str, Any]]:
    """The complete rows of a log, in order; a torn last line is skipped."""
    with open(path, "rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                return  # cut by a kill while it was written
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                yield row


class ResultLog:
    """Rows appended to a JSON Lines file as soon as they exist.

    ``resume=False`` refuses an existing file unless ``force`` (then it is truncated);
    ``resume=True`` keeps its complete rows, cuts a torn last line and remembers the done keys.
    """

    def __init__(self, path: str | Path, resume: bool = False, force: bool = False) -> None:
        self.path = Path(path)
        self.done: set[bytes] = set()
        self.written = 0
        if self.path.is_dir():
            raise ResultLogError(f"{self.path}: is a folder, not a results file")
        exists = self.path.exists()
        if exists and not resume and not force:
            raise ResultLogError(
                f"{self.path}: already exists; use --resume to continue it or --force to replace it"
            )
        try:
            if exists and resume:
                self._load_done()
                self._handle = open(self.path, "ab")  # noqa: SIM115 - closed by close()
            else:
                self._handle = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        except OSError as error:
            raise ResultLogError(f"{self.path}: cannot be written ({error.strerror})") from error
        self._synced = time.monotonic()

    def _load_done(self) -> None:
        complete = 0
        with open(self.path, "rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    break
                complete += len(line)
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict) and "sha256" in row and "path" in row:
                    self.done.add(row_key(str(row["sha256"]), str(row["path"])))
        if complete != self.path.stat().st_size:
            os.truncate(self.path, complete)

    def is_done(self, sha256: str, path: str) -> bool:
        return row_key(sha256, path) in self.done

    def write(self, row: dict[str, Any]) -> None:
        line = json.dumps(row, ensure_ascii=True, allow_nan=False, separators=(",", ":")) + "\n"
        self._handle.write(line.encode("ascii"))
        self._handle.flush()
        self.written += 1
        if time.monotonic() - self._synced >= FSYNC_SECONDS:
            os.fsync(self._handle.fileno())
            self._synced = time.monotonic()

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()

    def __enter__(self) -> ResultLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
