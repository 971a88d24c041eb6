"""Verdicts and full-resolution maps from the block localiser, with the Predictor's interface.

The localiser reads the JPEG's own DCT coefficients, so it needs the file (or its bytes), not
decoded pixels: ``analyse_file`` is its entry point. ``analyse(rgb, ..., source=...)`` takes the
same arguments as ``Predictor.analyse`` plus the file; without a JPEG source it raises
``NotJpegError`` (the verdict is then 'inconclusive': there is no compression evidence to read).

The map is one P(tampered) per 8x8 block of the stored pixel grid; ``BlockHeatmap.upsample()``
gives it at the image's full size, like ``TileHeatmap``.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .cardcheck import card_problems
from .local_features import BlockFeatures, NotJpegError, read_block_features
from .localiser import (
    ARCHITECTURE,
    ARCHITECTURE_VERSION,
    BlockLocaliser,
    input_tensors,
    pooled_logit,
)
from .localiser_config import INPUT_GROUPS
from .localiser_train import channel_keep
from .modelfile import LoadedModel, ModelCard, ModelFileError, read_model_file
from .predict import (
    Cancel,
    CardVerdicts,
    Prediction,
    PredictionCancelled,
    _pool,
    configure_torch_threads,
    default_workers,
)

STRIP_MARGIN = 36
"""Block rows of context beyond a strip's kept rows: the receptive field reaches 32 rows up and
28 down (tests), rounded up to the network's stride of 4."""
MIN_STRIP_ROWS = 96
"""Images with fewer block rows per worker than this run in one pass (strips would mostly be
margin)."""


def strip_bounds(rows: int, workers: int) -> list[tuple[int, int, int, int]]:
    """(start, stop, keep_from, keep_to) per strip: run rows start:stop, keep keep_from:keep_to
    of its output. Kept parts tile 0:rows in order; starts are multiples of 4."""
    count = max(1, min(workers, rows // MIN_STRIP_ROWS))
    if count == 1:
        return [(0, rows, 0, rows)]
    cuts = [0] + [4 * round(rows * i / count / 4) for i in range(1, count)] + [rows]
    out = []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        start = max(0, a - STRIP_MARGIN)
        stop = min(rows, b + STRIP_MARGIN)
        out.append((start, stop, a - start, b - start))
    return out


@dataclass(frozen=True)
class LocaliserRecipe:
    """What the UI and CLI ask a model's recipe; the localiser has no ELA tiles."""

    name: str = "localiser"
    mode: str = "localiser"
    size: int = 8
    tile_stride: int = 8
    inputs: tuple = INPUT_GROUPS
    offset: float = 0.0
    map_threshold: float = 0.5
    """A block's P(tampered) at or above this is marked tampered in a binary map (F1)."""


@dataclass(frozen=True)
class BlockHeatmap:
    probs: np.ndarray
    """P(tampered) per 8x8 block, float32, rows x cols."""
    image_shape: tuple
    """(height, width) of the image."""
    tile: int = 8
    stride: int = 8

    @property
    def origins(self) -> list:
        rows, cols = self.probs.shape
        return [(8 * r, 8 * c) for r in range(rows) for c in range(cols)]

    def cells(self) -> tuple[np.ndarray, int]:
        return self.probs, 8

    def upsample(self) -> np.ndarray:
        """H x W float32: each pixel takes its block's P(tampered)."""
        height, width = self.image_shape
        return np.repeat(np.repeat(self.probs, 8, axis=0), 8, axis=1)[:height, :width]


def load_localiser(path: str | Path) -> LoadedModel:
    """Load a BlockLocaliser model file (card in the header, or NAME.json of an older pair;
    SHA-256 of the weights checked as ``modelfile.load_model`` does)."""
    from safetensors.torch import load as load_safetensors_bytes

    contents = read_model_file(path)
    weights_path, data, card, card_path = (
        contents.weights_path, contents.data, contents.card, contents.card_path
    )  # fmt: skip
    problems = card_problems(card)
    if problems:
        raise ModelFileError(card_path, "the model card is invalid: " + "; ".join(problems))
    if card.architecture != ARCHITECTURE or card.architecture_version != ARCHITECTURE_VERSION:
        raise ModelFileError(card_path, f"not a {ARCHITECTURE} v{ARCHITECTURE_VERSION} model")
    contents.check_weights_hash()
    try:
        tensors = load_safetensors_bytes(data)
    except Exception as error:  # safetensors raises its own error type for malformed input
        raise ModelFileError(weights_path, f"not a valid safetensors file ({error})") from None
    model = BlockLocaliser()
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}
    if not all(bool(torch.isfinite(t).all()) for t in state.values() if t.is_floating_point()):
        raise ModelFileError(weights_path, "a tensor contains NaN or infinity")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        detail = " ".join(str(error).split())[:300]
        raise ModelFileError(
            weights_path, f"the weights do not fit {ARCHITECTURE} ({detail})"
        ) from None
    offset = card.recipe.get("offset", 0.0)
    inputs = card.recipe.get("inputs", list(INPUT_GROUPS))
    if not (isinstance(offset, int | float) and math.isfinite(offset)) or not (
        isinstance(inputs, list) and inputs and set(inputs) <= set(INPUT_GROUPS)
    ):
        raise ModelFileError(card_path, "the localiser recipe's offset or inputs are invalid")
    map_threshold = card.recipe.get("map_threshold", 0.5)
    if not (isinstance(map_threshold, int | float) and 0.0 <= map_threshold <= 1.0):
        raise ModelFileError(card_path, "the localiser recipe's map_threshold is not 0-1")
    recipe = LocaliserRecipe(
        inputs=tuple(inputs), offset=float(offset), map_threshold=float(map_threshold)
    )
    return LoadedModel(
        model=model.eval(), card=card, path=weights_path, recipe=recipe, card_file=card_path
    )


PRECISIONS = ("auto", "float32", "bf16")


PRECISION_ENV = "FORENSIC_VIEWER_PRECISION"
"""Overrides 'auto' (e.g. ``float32`` to run exactly the arithmetic the calibration used)."""


def resolve_precision(precision: str) -> str:
    """'auto': the ``FORENSIC_VIEWER_PRECISION`` environment variable when set, else bfloat16
    where the CPU computes it natively (AVX-512 BF16 or AMX), where the network runs about four
    times faster than in float32 (bench/README.md), and float32 elsewhere (emulated bfloat16 is
    slower). The model trained under the same bf16 autocast."""
    if precision == "auto":
        wanted = os.environ.get(PRECISION_ENV, "").strip().lower()
        if wanted in PRECISIONS:
            precision = wanted
        elif wanted:
            warnings.warn(f"{PRECISION_ENV}={wanted!r} is not one of {', '.join(PRECISIONS)}; "
                          "using auto", stacklevel=2)  # fmt: skip
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision != "auto":
        return precision
    from .scoring import cpu_has_native_bf16

    return "bf16" if cpu_has_native_bf16() else "float32"


class LocaliserPredictor(CardVerdicts):
    """A loaded localiser turning JPEG files into verdicts and block maps. Thread-safe.

    ``precision``: the network's arithmetic (see ``resolve_precision``). The calibration was fitted
    on float32 maps; bench/README.md gives the benchmark in both."""

    needs_file = True

    def __init__(
        self,
        model: LoadedModel | str | Path,
        workers: int | None = None,
        precision: str = "auto",
    ) -> None:
        self.loaded = model if isinstance(model, LoadedModel) else load_localiser(model)
        self.precision = resolve_precision(precision)
        configure_torch_threads()
        keep = channel_keep(self.loaded.recipe.inputs)
        self._keep = torch.from_numpy(keep)[None, :, None, None]
        self._keep_needed = not bool(keep.all())
        self.workers = max(1, workers or default_workers())

    @property
    def card(self) -> ModelCard:
        return self.loaded.card

    @property
    def recipe(self) -> LocaliserRecipe:
        return self.loaded.recipe

    def block_logits(self, features: BlockFeatures, cancel: Cancel = None) -> np.ndarray:
        """float32 rows x cols raw block logits, as one pass over the whole image gives.

        Tall images run as horizontal strips on the shared network pool (one torch thread
        each, see ``ml.predict``): each strip carries ``STRIP_MARGIN`` extra block rows of
        context on each inner side (more than the receptive field reaches) and starts on a
        multiple of 4 rows, so the network's downsampling grid is the whole image's and every
        kept row is what the whole-image pass gives (up to float32 summation order; tested).
        """
        if cancel is not None and cancel():
            raise PredictionCancelled()
        x, qtable = input_tensors(features)
        if self._keep_needed:
            x = x * self._keep
        rows = x.shape[2]
        strips = strip_bounds(rows, self.workers)
        if len(strips) == 1:
            return self._forward(x, qtable)
        pieces = list(_pool().map(lambda b: self._strip(x, qtable, *b), strips))
        return np.concatenate(pieces, axis=0)

    def _forward(self, x: torch.Tensor, qtable: torch.Tensor) -> np.ndarray:
        bf16 = self.precision == "bf16"
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            return self.loaded.model(x, qtable)[0, 0].float().numpy()

    def _strip(self, x, qtable, start: int, stop: int, keep_from: int, keep_to: int):
        return self._forward(x[:, :, start:stop], qtable)[keep_from:keep_to]

    def calibrated(self, logits: np.ndarray | float) -> np.ndarray:
        """P(tampered) from raw logits: sigmoid((z - offset) / temperature)."""
        z = (np.asarray(logits, np.float64) - self.recipe.offset) / self.temperature
        return 1.0 / (1.0 + np.exp(-z))

    def analyse_features(
        self, features: BlockFeatures, cancel: Cancel = None, started: float | None = None
    ) -> tuple[Prediction, BlockHeatmap]:
        started = time.perf_counter() if started is None else started
        logits = self.block_logits(features, cancel)
        image_logit = float(pooled_logit(torch.from_numpy(logits)[None, None]))
        probability = float(self.calibrated(image_logit))
        heat = BlockHeatmap(
            self.calibrated(logits).astype(np.float32), (features.height, features.width)
        )
        return self.make_prediction(probability, time.perf_counter() - started), heat

    def analyse_file(
        self, source: str | Path | bytes, cancel: Cancel = None
    ) -> tuple[Prediction, BlockHeatmap]:
        """Verdict and map of a JPEG file or JPEG bytes (NotJpegError for anything else)."""
        started = time.perf_counter()
        return self.analyse_features(read_block_features(source), cancel, started)

    def analyse(
        self,
        rgb: np.ndarray | None = None,
        cancel: Cancel = None,
        max_tiles: int | None = None,
        source: str | Path | bytes | None = None,
    ) -> tuple[Prediction, BlockHeatmap]:
        """``Predictor.analyse`` with the file: pixels alone carry no DCT coefficients."""
        if source is None:
            raise NotJpegError("the localiser needs the JPEG file, not decoded pixels")
        prediction, heat = self.analyse_file(source, cancel)
        if rgb is not None and tuple(rgb.shape[:2]) != heat.image_shape:
            raise ValueError("the pixels and the file have different sizes")
        return prediction, heat

    def predict(self, rgb=None, cancel: Cancel = None, max_tiles=None, source=None) -> Prediction:
        return self.analyse(rgb, cancel, max_tiles, source)[0]


class LocaliserScorer:
    """The benchmark's scorer protocol (``ml.scorers``) for a localiser model file: JPEG bytes in,
    P(tampered) and the full-resolution map out; not a JPEG: inconclusive."""

    def __init__(self, path: str | Path) -> None:
        self.predictor = LocaliserPredictor(path)
        self.name = self.predictor.name
        self.threshold = float(self.predictor.threshold)
        self.map_threshold = float(self.predictor.recipe.map_threshold)

    def score(self, jpeg: bytes, want_map: bool = True):
        from .scorers import INCONCLUSIVE, ScoreResult, state_for

        try:
            prediction, heat = self.predictor.analyse_file(jpeg)
        except NotJpegError as error:
            return ScoreResult(None, None, INCONCLUSIVE, str(error))
        block_map = heat.upsample() if want_map else None
        p = prediction.p_tampered
        return ScoreResult(p, block_map, state_for(p, self.threshold))
