"""One batch route for every architecture: ``PathPrediction`` per file, in order.

The ELA networks go through ``batch.predict_paths`` (which hashes and skips done files on its
loader thread). The localiser, and any run that writes maps, go through
``architectures.analyse_paths``; here files are taken in small chunks: each chunk's done files
are skipped and its header-only verdicts ("inconclusive": not a JPEG, outside the card's domain)
given before the rest of the chunk is analysed, so memory stays flat over any number of files.
``predict`` (plain, ``--out``, ``--maps``) and the Ray actors all use :func:`triage_paths`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ..core.images import sha256_file
from .architectures import analyse_paths, is_localiser
from .batch import PathPrediction, Skip, predict_paths

CHUNK_FILES = 32
"""Files decided (skip, header verdict) ahead of the analysis on the localiser route."""

OnResult = Callable[[Path, tuple], str | None] | None
"""``on_result(path, (prediction, heatmap))`` after a file is analysed (e.g. to write its map);
it returns an error sentence, or None."""


def triage_paths(
    files: Sequence[str | Path],
    predictor,
    skip: Skip = None,
    hash_files: bool = False,
    on_result: OnResult = None,
) -> Iterator[PathPrediction]:
    """Outcomes for ``files`` in order. ``skip(sha256, path)``: files already done come back with
    ``skipped=True``; ``hash_files``: every row carries the file's SHA-256 (result logs)."""
    files = [Path(f) for f in files]
    if on_result is None and not is_localiser(predictor):
        if hash_files and skip is None:
            skip = _never
        yield from predict_paths(files, predictor, skip=skip)
        return
    total = len(files)
    for start in range(0, total, CHUNK_FILES):
        yield from _chunk(files, start, predictor, skip, hash_files or skip is not None, on_result)


def _never(sha256: str, path: str) -> bool:
    return False


def _chunk(files, start, predictor, skip, hashing, on_result) -> Iterator[PathPrediction]:
    from .domain import header_facts
    from .verdict import before_model

    total = len(files)
    decided: dict[int, PathPrediction] = {}
    hashes: dict[int, str | None] = {}
    for index in range(start, min(start + CHUNK_FILES, total)):
        path = files[index]
        sha = None
        if hashing:
            try:
                sha = sha256_file(path)
            except OSError:
                sha = None  # the analysis reports the file as unreadable
            if sha is not None and skip is not None and skip(sha, str(path)):
                decided[index] = PathPrediction(index, total, path, sha256=sha, skipped=True)
                continue
        hashes[index] = sha
        try:
            early = before_model(header_facts(path), predictor.loaded.card)
        except Exception:  # noqa: BLE001 - unreadable: the analysis says why, with the name
            early = None
        if early is not None:
            decided[index] = PathPrediction(index, total, path, sha256=sha, verdict=early)
    todo = [i for i in hashes if i not in decided]
    analysed = iter(analyse_paths([files[i] for i in todo], predictor))
    for index in range(start, min(start + CHUNK_FILES, total)):
        if index in decided:
            yield decided[index]
            continue
        path, sha = files[index], hashes[index]
        _, _, result, error = next(analysed)
        if error is None and on_result is not None:
            error = on_result(path, result)
        if error is not None:
            yield PathPrediction(index, total, path, error=error, sha256=sha)
        else:
            yield PathPrediction(index, total, path, result[0], sha256=sha)
