"""Verdicts and tile heatmaps from a loaded model (batches of files: ``ml.batch``).

All inputs are computed on the stored pixel grid (where the JPEG blocks are), so a heatmap is on
that grid too: apply the image's EXIF orientation (``core.images.orient``) before drawing it over
an oriented display image.

Threads: torch's own intra-op pool is set to one thread (``configure_torch_threads``) and the
network instead runs chunks of a batch in our own small thread pool, one chunk per core. Each
chunk is an independent single-threaded forward pass, so nothing waits at an OpenMP barrier for a
thread the OS has preempted: on this 2-core machine, shared with the GUI, ELA and other work,
OpenMP's two threads made a one-image forward pass up to 5x slower than one thread, whereas the
chunks use both cores when they are free and degrade to one thread's speed when they are not.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .model import CLASS_NAMES, TAMPERED_INDEX, p_tampered
from .modelfile import LoadedModel, load_model
from .preprocess import (
    Recipe,
    aggregate_tiles,
    cut_tiles,
    ela_rendering,
    resized_input,
    tile_origins,
)
from .verdict import Verdict, before_model, from_probability

Cancel = Callable[[], bool] | None
BATCH_TILES = 16
"""Network batch size: large enough to amortise reading the 118 MB dense layer, small enough
that a cancel request is seen within about a quarter of a second."""

_threads_lock = threading.Lock()
_threads_configured: int | None = None
_network_pool: ThreadPoolExecutor | None = None


VERDICT_MAX_TILES = 160
"""Tile budget of one verdict (about 1-2 s of network time on 2 cores). The viewer uses the same
budget (ui.verdict_jobs.DEFAULT_MAX_TILES, kept torch-free), so the CLI and the window agree."""


class PredictionCancelled(Exception):
    """Raised by Predictor methods when their ``cancel`` callback returned True."""


def configure_torch_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads once per process: 1 unless told otherwise (see above)."""
    global _threads_configured
    with _threads_lock:
        if threads is None and _threads_configured is not None:
            # Training (the wizard's, in this process) may have changed the pool since.
            if torch.get_num_threads() != _threads_configured:
                torch.set_num_threads(_threads_configured)
            return _threads_configured
        count = max(1, threads or 1)
        torch.set_num_threads(count)
        _threads_configured = count
        return count


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def _pool() -> ThreadPoolExecutor:
    global _network_pool
    with _threads_lock:
        if _network_pool is None:
            _network_pool = ThreadPoolExecutor(default_workers(), thread_name_prefix="network")
        return _network_pool


@dataclass(frozen=True)
class Prediction:
    p_tampered: float
    label: str
    """'tampered' when p_tampered >= threshold, else 'authentic'."""
    threshold: float
    ms: float
    """Time to compute the verdict from pixels (ELA + network); for files, loading included."""
    model_name: str
    verdict: Verdict
    """What the number means: 'tampered' or 'no_trace' with its reason (ml.verdict)."""


@dataclass(frozen=True)
class TileHeatmap:
    probs: np.ndarray
    """P(tampered) per tile, float32, rows x cols (row-major like ``origins``)."""
    origins: list
    """(y, x) top-left corner of each tile on the stored pixel grid."""
    tile: int
    stride: int
    image_shape: tuple
    """(height, width) of the image."""

    def upsample(self) -> np.ndarray:
        """H x W float32: each pixel is the mean P(tampered) of the tiles covering it.

        Pixels no tile covers (a few edge columns left over by the 8-pixel block grid, or gaps
        when the stride exceeds the tile) take the value of the nearest covered pixel.
        """
        height, width = self.image_shape
        mean, cell = self.cells()
        return np.repeat(np.repeat(mean, cell, axis=0), cell, axis=1)[:height, :width]

    def cells(self) -> tuple[np.ndarray, int]:
        """(mean P(tampered) per grid cell, cell size in pixels): ``upsample`` before expansion.

        Origins and the tile size share a grid (8 pixels for block-aligned tiles), so each cell
        has one value; a 12 MP heatmap kept as cells is 64x smaller than per pixel.
        """
        height, width = self.image_shape
        cell = math.gcd(self.tile, *(value for origin in self.origins for value in origin))
        rows, cols = -(-height // cell), -(-width // cell)
        total = np.zeros((rows, cols), np.float64)
        count = np.zeros((rows, cols), np.int32)
        span = self.tile // cell
        for (y, x), prob in zip(self.origins, self.probs.ravel(), strict=True):
            total[y // cell : y // cell + span, x // cell : x // cell + span] += prob
            count[y // cell : y // cell + span, x // cell : x // cell + span] += 1
        mean = total / np.maximum(count, 1)
        row_map = _nearest_covered(count.any(axis=1))
        col_map = _nearest_covered(count.any(axis=0))
        return mean[row_map][:, col_map].astype(np.float32), cell


def _nearest_covered(covered: np.ndarray) -> np.ndarray:
    """For each index, the index of the nearest True entry (coverage is separable by axis)."""
    positions = np.flatnonzero(covered)
    if positions.size == 0:
        return np.zeros(covered.size, dtype=np.intp)
    index = np.arange(covered.size)
    right = np.clip(np.searchsorted(positions, index), 0, positions.size - 1)
    left = np.clip(right - 1, 0, positions.size - 1)
    use_left = np.abs(positions[left] - index) < np.abs(positions[right] - index)
    return np.where(use_left, positions[left], positions[right])


def tile_rows(rendering: np.ndarray, size: int, stride: int) -> Iterator[tuple[np.ndarray, list]]:
    """``cut_tiles`` one row of tiles at a time, in the same order as ``tile_origins``.

    A 12-megapixel image has thousands of tiles (hundreds of MB as float32); a row is a few MB.
    """
    height, width = rendering.shape[:2]
    row_starts = sorted({y for y, _ in tile_origins(height, width, size, stride)})
    for y in row_starts:
        tiles, origins = cut_tiles(rendering[y : y + size], size, stride)
        yield tiles, [(y, x) for _, x in origins]


class CardVerdicts:
    """What every predictor reads off its model card: name, threshold, labels, predictions.

    Subclasses set ``self.loaded`` (a model with its ``card``)."""

    loaded: object

    @property
    def name(self) -> str:
        return self.loaded.card.name

    @property
    def threshold(self) -> float:
        return self.loaded.card.threshold

    @property
    def temperature(self) -> float:
        return self.loaded.card.temperature

    def label_for(self, probability: float) -> str:
        tampered = probability >= self.threshold
        return CLASS_NAMES[TAMPERED_INDEX] if tampered else CLASS_NAMES[1 - TAMPERED_INDEX]

    def make_prediction(self, probability: float, seconds: float) -> Prediction:
        return Prediction(
            p_tampered=float(probability),
            label=self.label_for(probability),
            threshold=self.threshold,
            ms=seconds * 1000.0,
            model_name=self.name,
            verdict=from_probability(probability, self.loaded.card),
        )


class Predictor(CardVerdicts):
    """A model loaded once, turning RGB pixels into verdicts and heatmaps. Thread-safe."""

    def __init__(
        self,
        model: LoadedModel | str | Path,
        batch_tiles: int = BATCH_TILES,
        workers: int | None = None,
    ) -> None:
        self.loaded = model if isinstance(model, LoadedModel) else load_model(model)
        self.batch_tiles = batch_tiles
        self.workers = max(1, workers or default_workers())
        """Chunks of a batch run at the same time (at most the shared pool's size)."""
        configure_torch_threads()
        self._lock = threading.RLock()
        # The last image's ELA and tile scores, so predict() then heatmap() on the same array
        # (what the viewer does) computes ELA and the network once. Keeping a reference to the
        # array makes the identity check safe: its id cannot be reused while we hold it.
        self._last_rgb: np.ndarray | None = None
        self._last_rendering: np.ndarray | None = None
        self._last_tiles: dict[int, tuple[np.ndarray, list]] = {}

    @property
    def recipe(self) -> Recipe:
        return self.loaded.recipe

    def judge(
        self, image, cancel: Cancel = None, max_tiles: int | None = VERDICT_MAX_TILES
    ) -> Verdict:
        """The verdict for a ``core.images.LoadedImage``: 'inconclusive' without running the
        network when the file lacks the evidence or is outside the card's domain."""
        early = before_model(image.facts, self.loaded.card)
        if early is not None:
            return early
        return self.predict(image.pixels, cancel, max_tiles).verdict

    def probabilities(self, inputs: np.ndarray, cancel: Cancel = None) -> np.ndarray:
        """P(tampered) for N x C x S x S float32 inputs, in batches, as float64."""
        out = np.empty(len(inputs), dtype=np.float64)
        with self._lock:
            for start in range(0, len(inputs), self.batch_tiles):
                if cancel is not None and cancel():
                    raise PredictionCancelled()
                batch = inputs[start : start + self.batch_tiles]
                chunks = np.array_split(batch, min(self.workers, len(batch)))
                if len(chunks) == 1:
                    probs = [self._forward(batch)]
                else:
                    probs = list(_pool().map(self._forward, chunks))
                out[start : start + len(batch)] = np.concatenate(probs)
        return out

    def _forward(self, inputs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            logits = self.loaded.model(torch.from_numpy(np.ascontiguousarray(inputs)))
            return p_tampered(logits, self.temperature).numpy()

    def tile_probabilities(
        self, rendering: np.ndarray, stride: int | None = None, cancel: Cancel = None
    ) -> tuple[np.ndarray, list]:
        """P(tampered) of every native-resolution tile of an ELA rendering, and their origins."""
        stride = stride or self.recipe.tile_stride
        probs: list[np.ndarray] = []
        origins: list = []
        pending: list[np.ndarray] = []
        pending_count = 0
        for tiles, row_origins in tile_rows(rendering, self.recipe.size, stride):
            pending.append(tiles)
            pending_count += len(tiles)
            origins.extend(row_origins)
            if pending_count >= self.batch_tiles:
                probs.append(self.probabilities(np.concatenate(pending), cancel))
                pending, pending_count = [], 0
        if pending:
            probs.append(self.probabilities(np.concatenate(pending), cancel))
        return np.concatenate(probs), origins

    def rendering(self, rgb: np.ndarray) -> np.ndarray:
        """The recipe's ELA rendering, reused while the same array is passed again."""
        with self._lock:
            if rgb is self._last_rgb and self._last_rendering is not None:
                return self._last_rendering
            rendering = ela_rendering(rgb, self.recipe)
            self._last_rgb, self._last_rendering, self._last_tiles = rgb, rendering, {}
            return rendering

    def clear_cache(self) -> None:
        """Forget the last image (its pixels, rendering and tile scores), e.g. once it is closed:
        a 12 MP photo's pixels and ghost rendering are 72 MB."""
        with self._lock:
            self._last_rgb, self._last_rendering, self._last_tiles = None, None, {}

    def _cached_tiles(
        self, rgb: np.ndarray, stride: int, cancel: Cancel
    ) -> tuple[np.ndarray, list]:
        with self._lock:
            rendering = self.rendering(rgb)
            if stride not in self._last_tiles:
                self._last_tiles[stride] = self.tile_probabilities(rendering, stride, cancel)
            return self._last_tiles[stride]

    def verdict_stride(self, height: int, width: int, max_tiles: int | None) -> int:
        """The tile stride of a verdict: the recipe's, widened past ``max_tiles`` tiles."""
        if max_tiles is None:
            return self.recipe.tile_stride
        return self.stride_for(height, width, max_tiles)

    def probability_from_rendering(
        self,
        rendering: np.ndarray,
        cancel: Cancel = None,
        max_tiles: int | None = VERDICT_MAX_TILES,
    ) -> float:
        """Image-level P(tampered) from an ELA rendering, following the model's recipe
        (tile recipes with the same tile budget as ``predict``)."""
        if self.recipe.mode == "tiles":
            stride = self.verdict_stride(rendering.shape[0], rendering.shape[1], max_tiles)
            probs, _ = self.tile_probabilities(rendering, stride, cancel)
            return aggregate_tiles(probs, self.recipe.aggregate)
        return float(self.probabilities(resized_input(rendering, self.recipe)[None], cancel)[0])

    def predict(
        self, rgb: np.ndarray, cancel: Cancel = None, max_tiles: int | None = VERDICT_MAX_TILES
    ) -> Prediction:
        """The verdict for RGB uint8 H x W x 3 pixels (stored grid).

        Tile recipes score at most ``max_tiles`` tiles: past that (photos above ~0.6 MP at
        stride 64) the stride widens to a multiple of the recipe's, so a 12 MP verdict costs
        seconds, not minutes. CASIA-size images (15 tiles) are scored exactly as validated.
        """
        started = time.perf_counter()
        with self._lock:
            if self.recipe.mode == "tiles":
                stride = self.verdict_stride(rgb.shape[0], rgb.shape[1], max_tiles)
                probs, _ = self._cached_tiles(rgb, stride, cancel)
                probability = aggregate_tiles(probs, self.recipe.aggregate)
            else:
                probability = self.probability_from_rendering(self.rendering(rgb), cancel)
        return self.make_prediction(probability, time.perf_counter() - started)

    def stride_for(self, height: int, width: int, max_tiles: int) -> int:
        """The smallest multiple of the recipe's stride that keeps the tile count in budget.

        A 12-megapixel photo has about 2,900 tiles at stride 64 (tens of seconds on 2 cores);
        a budget bounds the heatmap's cost at the price of detail.
        """
        base = self.recipe.tile_stride
        stride = base
        size = self.recipe.size
        while len(tile_origins(height, width, size, stride)) > max_tiles and stride < max(
            height, width
        ):
            stride += base
        return stride

    def heatmap(
        self,
        rgb: np.ndarray,
        stride: int | None = None,
        cancel: Cancel = None,
        max_tiles: int | None = None,
    ) -> TileHeatmap:
        """Per-tile P(tampered) over native-resolution tiles, whatever the model's recipe.

        ``stride`` defaults to the recipe's tile stride, or with ``max_tiles`` to the smallest
        multiple of it that needs at most that many tiles (see ``stride_for``).
        """
        if stride is None and max_tiles is not None:
            stride = self.stride_for(rgb.shape[0], rgb.shape[1], max_tiles)
        stride = stride or self.recipe.tile_stride
        probs, origins = self._cached_tiles(rgb, stride, cancel)
        rows = len({y for y, _ in origins})
        return TileHeatmap(
            probs=probs.astype(np.float32).reshape(rows, -1),
            origins=list(origins),
            tile=self.recipe.size,
            stride=stride,
            image_shape=tuple(rgb.shape[:2]),
        )

    def analyse(
        self, rgb: np.ndarray, cancel: Cancel = None, max_tiles: int | None = VERDICT_MAX_TILES
    ) -> tuple[Prediction, TileHeatmap]:
        """Verdict and heatmap together, sharing one ELA and, for tile models, one network pass
        (both use the tile budget's stride)."""
        prediction = self.predict(rgb, cancel, max_tiles)
        stride = self.verdict_stride(rgb.shape[0], rgb.shape[1], max_tiles)
        return prediction, self.heatmap(rgb, stride=stride, cancel=cancel)
