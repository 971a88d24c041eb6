"""What the verdict workers run: load a model, compute a verdict and heatmap, colour a heatmap.

No Qt here, and ``forensic_viewer.ml`` (so torch) is imported inside the functions: they run on
pool threads, so the window appears without torch and the first verdict pays for the import.

Cost is bounded for big images. A tile model's verdict aggregates its tiles; a 12-megapixel
photo has about 2,900 tiles at the recipe's 64-pixel stride (tens of seconds on two cores), so
the stride is widened until at most ``max_tiles`` tiles are needed (``Predictor.stride_for``).
At the recipe's own stride (every CASIA-size image) the verdict is exactly ``Predictor.predict``.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from forensic_viewer.core.images import ImageFacts, load_image, orient, pad_missing_rows
from forensic_viewer.ml.verdict import Verdict, before_model, from_probability  # torch-free

DEFAULT_MAX_TILES = 160
"""Tiles per verdict at most: ``ml.predict.VERDICT_MAX_TILES`` (not imported: it loads torch)."""
OVERLAY_MAX_PIXELS = 1_500_000
"""The coloured heatmap is drawn from at most this many samples (it is tile-coarse anyway)."""

Cancel = Callable[[], bool] | None


@dataclass(frozen=True)
class VerdictOutcome:
    doc_id: int
    model_path: Path
    model_name: str
    weights_sha256: str
    verdict: Verdict
    """tampered / no_trace / inconclusive with its reason (ml.verdict)."""
    threshold: float
    seconds: float
    """Worker time for this verdict (ELA renderings and network; decoding if it reloaded)."""
    recipe_mode: str
    tiles: int
    """Network inputs used: tiles of the image, or 1 for a resized-whole-image model."""
    tile_stride: int | None
    exact: bool
    """True when the verdict is exactly ``Predictor.predict`` (False: widened tile stride)."""
    heatmap: object | None = None
    """ml.predict.TileHeatmap on the stored pixel grid, or None if not computed."""

    @property
    def p_tampered(self) -> float | None:
        """None when the model did not run (an inconclusive verdict)."""
        return self.verdict.p_tampered


@dataclass(frozen=True)
class HeatOverlay:
    doc_id: int
    rgba: np.ndarray
    """Display-oriented RGBA uint8, possibly sampled every ``step`` pixels."""
    size: tuple[int, int]
    """(width, height) of the displayed image the overlay covers."""
    step: int
    tiles: int
    stride: int
    tile: int
    p_min: float
    p_max: float


def load_predictor(path: str | Path):
    """A Predictor (ElaCnn) or LocaliserPredictor for a model file (imports torch on first use).
    Raises ModelFileError."""
    from forensic_viewer.ml.architectures import make_predictor

    return make_predictor(Path(path))


def is_cancellation(error: BaseException) -> bool:
    """True for ml.predict.PredictionCancelled (checked without importing torch)."""
    module = sys.modules.get("forensic_viewer.ml.predict")
    cancelled = getattr(module, "PredictionCancelled", None)
    return cancelled is not None and isinstance(error, cancelled)


def compute_verdict(
    predictor,
    doc_id: int,
    pixels: np.ndarray | None,
    path: Path | None = None,
    want_heatmap: bool = True,
    max_tiles: int = DEFAULT_MAX_TILES,
    cancel: Cancel = None,
    expected_sha256: str | None = None,
    facts: ImageFacts | None = None,
) -> VerdictOutcome:
    """The verdict for stored-grid ``pixels`` (or the file at ``path`` when they were evicted).

    With the image's ``facts``, a file that lacks the evidence or is outside the model card's
    domain gets an 'inconclusive' verdict without running the network (and no heatmap).
    Tile models always return their heatmap (the same network pass); resize models compute one
    only when ``want_heatmap``. A file re-read from disk must still have ``expected_sha256``:
    a verdict is never given for other bytes than the ones the window shows.
    """
    started = time.perf_counter()
    card = predictor.loaded.card
    early = None if facts is None else before_model(facts, card)
    if early is not None:
        return VerdictOutcome(
            doc_id=doc_id,
            model_path=Path(predictor.loaded.path),
            model_name=predictor.name,
            weights_sha256=card.weights_sha256,
            verdict=early,
            threshold=float(predictor.threshold),
            seconds=time.perf_counter() - started,
            recipe_mode=getattr(predictor.recipe, "mode", "localiser"),
            tiles=0,
            tile_stride=None,
            exact=True,
        )
    if getattr(predictor, "needs_file", False):
        return _localiser_verdict(predictor, doc_id, path, cancel, expected_sha256, started)
    if pixels is None:
        loaded = load_image(path)
        if expected_sha256 and loaded.facts.sha256 != expected_sha256:
            raise ValueError(f"{Path(path).name}: the file changed on disk since it was opened")
        pixels = loaded.pixels
    recipe = predictor.recipe
    height, width = pixels.shape[:2]
    heat = None
    if recipe.mode == "tiles":
        # One ELA and one network pass for both (the Predictor caches tiles per stride).
        prediction, heat = predictor.analyse(pixels, cancel, max_tiles)
        probability = prediction.p_tampered
        exact = heat.stride == recipe.tile_stride
        tiles, tile_stride = int(heat.probs.size), heat.stride
    else:
        probability = predictor.predict(pixels, cancel).p_tampered
        if want_heatmap:
            heat = predictor.heatmap(pixels, cancel=cancel, max_tiles=max_tiles)
        tiles, tile_stride, exact = 1, None, True
    return VerdictOutcome(
        doc_id=doc_id,
        model_path=Path(predictor.loaded.path),
        model_name=predictor.name,
        weights_sha256=card.weights_sha256,
        verdict=from_probability(float(probability), card),
        threshold=float(predictor.threshold),
        seconds=time.perf_counter() - started,
        recipe_mode=recipe.mode,
        tiles=tiles,
        tile_stride=tile_stride,
        exact=exact,
        heatmap=heat,
    )


def _localiser_verdict(predictor, doc_id, path, cancel, expected_sha256, started):
    """The block localiser reads the JPEG file's own coefficients (not decoded pixels): the
    bytes are checked against the SHA-256 of the file the window shows, then analysed; its map
    has one value per 8x8 block (NotJpegError for other formats)."""
    import hashlib

    data = Path(path).read_bytes()
    if expected_sha256 and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise ValueError(f"{Path(path).name}: the file changed on disk since it was opened")
    prediction, heat = predictor.analyse_file(data, cancel)
    return VerdictOutcome(
        doc_id=doc_id,
        model_path=Path(predictor.loaded.path),
        model_name=predictor.name,
        weights_sha256=predictor.loaded.card.weights_sha256,
        verdict=from_probability(float(prediction.p_tampered), predictor.loaded.card),
        threshold=float(predictor.threshold),
        seconds=time.perf_counter() - started,
        recipe_mode="localiser",
        tiles=int(heat.probs.size),
        tile_stride=heat.stride,
        exact=True,
        heatmap=heat,
    )


def sampled_heatmap(heat, max_pixels: int = OVERLAY_MAX_PIXELS) -> tuple[np.ndarray, int]:
    """``heat.upsample()[::step, ::step]`` without building the full-size array, and ``step``."""
    height, width = heat.image_shape
    step = max(1, math.ceil(math.sqrt(height * width / max_pixels)))
    cells, cell = heat.cells()
    rows = np.arange(0, height, step) // cell
    cols = np.arange(0, width, step) // cell
    return cells[rows][:, cols], step


def colour_heatmap(values: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """RGBA uint8: colour from ``lut`` (256 x 3), alpha rising with P so low scores tint lightly."""
    index = np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)
    rgba = np.empty((*values.shape, 4), np.uint8)
    rgba[..., :3] = lut[index]
    rgba[..., 3] = (90 + index.astype(np.uint16) * 165 // 255).astype(np.uint8)
    return rgba


def make_overlay(
    doc_id: int, heat, orientation: int, lut: np.ndarray, full_height: int | None = None
) -> HeatOverlay:
    """The coloured, display-oriented heatmap of one document (cheap; run in a worker).

    ``full_height``: the declared height of a cut-off file, whose heatmap covers only its decoded
    rows; the missing rows get a transparent overlay, so it lines up with the hatched image."""
    values, step = sampled_heatmap(heat)
    coloured = colour_heatmap(values, lut)
    height, width = heat.image_shape
    if full_height is not None and full_height > height:
        height = full_height
        coloured = pad_missing_rows(coloured, -(-full_height // step), hatch=False)
    rgba = np.ascontiguousarray(orient(coloured, orientation))
    size = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    probs = np.asarray(heat.probs)
    return HeatOverlay(
        doc_id=doc_id,
        rgba=rgba,
        size=(int(size[0]), int(size[1])),
        step=step,
        tiles=int(probs.size),
        stride=int(heat.stride),
        tile=int(heat.tile),
        p_min=float(probs.min()) if probs.size else 0.0,
        p_max=float(probs.max()) if probs.size else 0.0,
    )
