"""Verdicts for many files: one loader thread decodes and runs ELA ahead of the network
(bench/bench_predict.py), and one file's error never ends the batch."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import ImageLoadError
from ..core.images import load_image, sha256_file
from .predict import Cancel, Prediction, PredictionCancelled, Predictor
from .preprocess import Recipe, ela_rendering, resized_input
from .verdict import Verdict, before_model

PREFETCH_FILES = 2
LOADER_ELA_WORKERS = 1


@dataclass(frozen=True)
class PathPrediction:
    """One file's outcome in a batch: a prediction, or an error sentence naming the file."""

    index: int
    """0-based position in the list of paths."""
    total: int
    path: Path
    prediction: Prediction | None = None
    """The network's output, when it ran."""
    error: str | None = None
    sha256: str | None = None
    """SHA-256 of the file's bytes, when it could be read."""
    skipped: bool = False
    """True when ``skip`` said the file was done already (no prediction, no error)."""
    verdict: Verdict | None = None
    """The verdict (None for an error or a skipped file): 'inconclusive' ones come without a
    prediction when the network was not run (ml.verdict.before_model)."""

    def __post_init__(self) -> None:
        if self.verdict is None and self.prediction is not None:
            object.__setattr__(self, "verdict", self.prediction.verdict)

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_row(self) -> dict:
        """The JSON object for this file (predict's --json/--csv/--out rows, Ray's rows)."""
        if self.error is not None:
            row = {"path": str(self.path), "error": self.error}
            if self.sha256 is not None:
                row["sha256"] = self.sha256
            return row
        verdict = self.verdict.as_dict()
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            **{key: verdict[key] for key in VERDICT_KEYS},
            "ms": None if self.prediction is None else round(self.prediction.ms, 1),
        }


VERDICT_KEYS = ("verdict", "reason", "p_tampered", "threshold", "model")
"""The keys of ``Verdict.as_dict`` in a row; ``p_tampered`` and ``ms`` are null when the network
did not run (an inconclusive verdict: the reason says why)."""


@dataclass
class _Prepared:
    inputs: np.ndarray | None
    """Network inputs for 'resize' models, or None for tile models (which use ``rendering``)."""
    rendering: np.ndarray | None
    seconds: float
    error: str | None = None
    sha256: str | None = None
    skipped: bool = False
    verdict: Verdict | None = None
    """Set when the verdict is known before the network (inconclusive): no inputs then."""


Skip = Callable[[str, str], bool] | None
"""``skip(sha256, path)``: True for a file whose result exists already (resumed runs)."""


def _prepare(path: Path, recipe: Recipe, card, skip: Skip = None) -> _Prepared:
    started = time.perf_counter()
    sha = None
    try:
        if skip is not None:
            # Hashing first costs one read from the page cache; a done file then costs no
            # decode, ELA or network time.
            sha = sha256_file(path)
            if skip(sha, str(path)):
                return _Prepared(None, None, 0.0, sha256=sha, skipped=True)
        loaded = load_image(path)
        sha = loaded.facts.sha256
        if (early := before_model(loaded.facts, card)) is not None:
            seconds = time.perf_counter() - started
            return _Prepared(None, None, seconds, sha256=sha, verdict=early)
        # One ELA strip: the loader runs beside the network, whose chunks already use every
        # core, so more strips would only oversubscribe them.
        rendering = ela_rendering(loaded.pixels, recipe, workers=LOADER_ELA_WORKERS)
        if recipe.mode == "tiles":
            return _Prepared(None, rendering, time.perf_counter() - started, sha256=sha)
        inputs = resized_input(rendering, recipe)[None]
        return _Prepared(inputs, None, time.perf_counter() - started, sha256=sha)
    except ImageLoadError as error:
        return _Prepared(None, None, 0.0, str(error), sha256=sha)
    except OSError as error:  # unreadable while hashing: the same sentence load_image gives
        message = f"{path.name}: cannot be read ({error.strerror or error})"
        return _Prepared(None, None, 0.0, message, sha256=sha)
    except Exception as error:  # one odd file must not end a batch of thousands
        message = f"{path.name}: could not be analysed ({type(error).__name__}: {error})"
        return _Prepared(None, None, 0.0, message, sha256=sha)


def predict_paths(
    paths: Iterable[str | Path], predictor: Predictor, cancel: Cancel = None, skip: Skip = None
) -> Iterator[PathPrediction]:
    """Predict many files, yielding one PathPrediction per file in order; errors are reported.

    A loader thread decodes and runs ELA on the next files while the network works on the
    current ones. 'resize' inputs of consecutive files share one network batch (deterministic:
    batches depend only on the list of files). ``cancel`` is checked before every network batch;
    once it returns True the generator stops. ``skip(sha256, path)`` marks files already done
    (yielded with ``skipped=True``, never decoded).
    """
    paths = [Path(p) for p in paths]
    total = len(paths)
    recipe, card = predictor.recipe, predictor.loaded.card
    tiles_mode = recipe.mode == "tiles"
    # Tile models keep a full-size rendering per prepared file, so they prefetch little;
    # resize models keep only a 3 x 128 x 128 input, so a whole next batch can be ready.
    ahead = PREFETCH_FILES if tiles_mode else predictor.batch_tiles + PREFETCH_FILES
    loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict-loader")
    queue: deque[tuple[int, Future]] = deque()
    submitted = 0

    def fill() -> None:
        nonlocal submitted
        while submitted < total and len(queue) < ahead:
            queue.append((submitted, loader.submit(_prepare, paths[submitted], recipe, card, skip)))
            submitted += 1

    def take() -> tuple[int, _Prepared]:
        index, future = queue.popleft()
        fill()
        return index, future.result()

    def cancelled() -> bool:
        return cancel is not None and bool(cancel())

    try:
        fill()
        while queue:
            if cancelled():
                return
            index, prepared = take()
            if prepared.skipped or prepared.error is not None:
                yield PathPrediction(
                    index, total, paths[index], error=prepared.error, sha256=prepared.sha256,
                    skipped=prepared.skipped,
                )  # fmt: skip
                continue
            if prepared.verdict is not None:
                yield PathPrediction(
                    index, total, paths[index], sha256=prepared.sha256, verdict=prepared.verdict
                )
                continue
            started = time.perf_counter()
            if tiles_mode:
                probability = predictor.probability_from_rendering(prepared.rendering, cancel)
                seconds = prepared.seconds + time.perf_counter() - started
                prediction = predictor.make_prediction(probability, seconds)
                yield PathPrediction(
                    index, total, paths[index], prediction, sha256=prepared.sha256,
                    verdict=prediction.verdict,
                )  # fmt: skip
                continue
            group = [(index, prepared)]
            while len(group) < predictor.batch_tiles and queue:
                head = queue[0][1].result()
                if head.error is not None or head.skipped or head.verdict is not None:
                    break  # reported on the next turn, after this batch, keeping the order
                group.append(take())
            started = time.perf_counter()
            probs = predictor.probabilities(np.concatenate([p.inputs for _, p in group]), cancel)
            share = (time.perf_counter() - started) / len(group)
            for position, ((index, prepared), probability) in enumerate(
                zip(group, probs, strict=True)
            ):
                if position and cancelled():
                    return
                prediction = predictor.make_prediction(probability, prepared.seconds + share)
                yield PathPrediction(
                    index, total, paths[index], prediction, sha256=prepared.sha256,
                    verdict=prediction.verdict,
                )  # fmt: skip
    except PredictionCancelled:
        return
    finally:
        loader.shutdown(wait=False, cancel_futures=True)
