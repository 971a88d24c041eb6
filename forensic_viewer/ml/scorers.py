"""Scorers the detection benchmark compares: anything that turns JPEG bytes into a verdict.

A scorer has a ``name``, an image ``threshold`` (flagged when P(tampered) >= threshold), a
``map_threshold`` (pixels counted as tampered for F1) and ``score(jpeg, want_map)``, which returns
a :class:`ScoreResult`. Built in:

- ``ela-blocks``: plain ELA at q90, mean absolute difference per 8x8 block. The map is the block
  values over the image's largest one; the image score is the contrast between the blocks'
  99th percentile and median, (p99 - median) / (p99 + median). Its threshold, 0.5, is a fixed
  a-priori choice (p99 three times the median), not fitted on anything.
- ElaCnn model files (the default model, the classic recipe): ``Predictor.analyse``, the verdict
  and tile heatmap the viewer shows (same tile budget).

Other architectures plug in with ``register_architecture(name, factory)``: the factory takes the
weights path and returns a scorer.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..core.ela import ela_difference
from . import modelformat
from .modelpaths import weights_path_for
from .synthetic import decode_jpeg

TAMPERED, NO_TRACE, INCONCLUSIVE = "tampered", "no_trace", "inconclusive"
VERDICT_STATES = (TAMPERED, NO_TRACE, INCONCLUSIVE)


@dataclass(frozen=True)
class ScoreResult:
    p: float | None
    """P(tampered), or None when the scorer gives no number."""
    map: np.ndarray | None
    """H x W float32 in [0, 1] on the decoded image's grid (None when not asked or not made)."""
    verdict_state: str
    """'tampered', 'no_trace' or 'inconclusive' (as ml.verdict names them)."""
    reason: str = ""


class Scorer(Protocol):
    name: str
    threshold: float
    map_threshold: float

    def score(self, jpeg: bytes, want_map: bool = True) -> ScoreResult: ...


def state_for(p: float | None, threshold: float) -> str:
    if p is None:
        return INCONCLUSIVE
    return TAMPERED if p >= threshold else NO_TRACE


def block_means(values: np.ndarray, block: int = 8) -> np.ndarray:
    """Mean of ``values`` (H x W) over each block x block cell; edge cells use what is there."""
    height, width = values.shape
    rows, cols = -(-height // block), -(-width // block)
    padded = np.zeros((rows * block, cols * block), np.float64)
    padded[:height, :width] = values
    counts = np.zeros_like(padded)
    counts[:height, :width] = 1.0
    sums = padded.reshape(rows, block, cols, block).sum(axis=(1, 3))
    return sums / counts.reshape(rows, block, cols, block).sum(axis=(1, 3))


class ElaBlockScorer:
    """Plain ELA block statistics (see the module docstring)."""

    name = "ela-blocks"
    threshold = 0.5
    map_threshold = 0.5

    def __init__(self, quality: int = 90) -> None:
        self.quality = quality

    def score(self, jpeg: bytes, want_map: bool = True) -> ScoreResult:
        rgb = decode_jpeg(jpeg)
        if min(rgb.shape[:2]) < 8:
            return ScoreResult(None, None, INCONCLUSIVE, "smaller than one 8x8 block")
        difference = ela_difference(rgb, self.quality, workers=1).mean(axis=2)
        blocks = block_means(difference)
        p99, median = np.percentile(blocks, 99), np.median(blocks)
        p = float((p99 - median) / (p99 + median)) if p99 + median > 0 else 0.0
        block_map = None
        if want_map:
            scaled = (blocks / blocks.max()) if blocks.max() > 0 else blocks
            block_map = np.repeat(np.repeat(scaled.astype(np.float32), 8, 0), 8, 1)
            block_map = block_map[: rgb.shape[0], : rgb.shape[1]]
        return ScoreResult(p, block_map, state_for(p, self.threshold))


def verdict_gate(jpeg: bytes, card) -> str | None:
    """The reason ``ml.verdict`` gives 'inconclusive' without running the model on this file
    (not a JPEG, too small, nothing to compare, outside the card's validated domain), or None."""
    from .domain import header_facts
    from .verdict import before_model

    early = before_model(header_facts(io.BytesIO(jpeg)), card)
    return None if early is None else early.reason


class ElaCnnScorer:
    """An ElaCnn model file scored as the viewer does (verdict + tile heatmap).

    The state follows ``ml.verdict``: inconclusive where the viewer would not run the model (for
    the default: outside its validated domain). P(tampered) is still computed there, so the
    benchmark can also show what the model would have said (its raw false alarms)."""

    def __init__(self, path: str | Path) -> None:
        from .predict import Predictor  # torch only when a network is scored

        self.predictor = Predictor(path)
        self.card = self.predictor.loaded.card
        self.name = self.predictor.name
        self.threshold = float(self.predictor.threshold)
        self.map_threshold = self.threshold

    def score(self, jpeg: bytes, want_map: bool = True) -> ScoreResult:
        gate = verdict_gate(jpeg, self.card)
        rgb = np.ascontiguousarray(decode_jpeg(jpeg))
        if want_map:
            prediction, heatmap = self.predictor.analyse(rgb)
            tile_map = np.clip(heatmap.upsample(), 0.0, 1.0).astype(np.float32)
        else:
            prediction, tile_map = self.predictor.predict(rgb), None
        p = prediction.p_tampered
        if gate is not None:
            return ScoreResult(p, tile_map, INCONCLUSIVE, gate)
        return ScoreResult(p, tile_map, state_for(p, self.threshold))


def _localiser_scorer(path: Path) -> Scorer:
    from .localiser_predict import LocaliserScorer

    return LocaliserScorer(path)


ARCHITECTURES: dict[str, Callable[[Path], Scorer]] = {
    "ElaCnn": ElaCnnScorer,
    "BlockLocaliser": _localiser_scorer,
}


def register_architecture(name: str, factory: Callable[[Path], Scorer]) -> None:
    """Make model files whose card names ``architecture: name`` scorable."""
    ARCHITECTURES[name] = factory


def load_scorer(spec: str | Path) -> Scorer:
    """'ela-blocks', 'default' (the shipped default model) or a model file path."""
    if str(spec) == "ela-blocks":
        return ElaBlockScorer()
    if str(spec) == "default":
        from ..core.paths import bundled_models_dir

        spec = bundled_models_dir() / "default.safetensors"
    weights = weights_path_for(spec)
    if not weights.is_file() or not modelformat.has_card(weights):
        raise FileNotFoundError(f"{weights}: no such model (weights with a model card)")
    try:  # the card in the file's header, or NAME.json beside an older model
        card, card_path = modelformat.read_card(weights)
    except modelformat.ModelFileError:
        card, card_path = modelformat.read_legacy_card(weights)  # loading judges the weights
    architecture = card.get("architecture", "ElaCnn")
    if architecture not in ARCHITECTURES:
        known = ", ".join(sorted(ARCHITECTURES))
        raise ValueError(
            f"{card_path}: architecture {architecture!r} has no scorer (known: {known})"
        )
    return ARCHITECTURES[architecture](weights)
