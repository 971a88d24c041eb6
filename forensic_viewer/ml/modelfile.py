"""Model files: one ``NAME.safetensors`` holding the weights and, in its header, the model card.

Loading never executes code: weights are read only through safetensors, whose format is a JSON
header plus raw tensor bytes. Pickle-based PyTorch files (``.pt``/``.pth``/...) are refused by
name and by content, without being opened by a pickle loader, because unpickling can run
arbitrary code. Every failure is a :class:`ModelFileError` naming the file and the reason.

Weights may be stored as float16 to halve the download (about 60 MB instead of 118 MB for the
classic network); they are always loaded as float32. A model is written as one file with one
atomic rename (core/atomic.py), so a crash leaves the old model or the new one; the card records
the SHA-256 of the tensor data, so damaged or swapped weights are detected instead of silently
giving verdicts. Models in the older two-file format (``NAME.json`` beside the weights) still
load; the format itself is described in ``modelformat``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import hashlib
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from ..core.atomic import atomic_open, temp_prefix
from ..core.jsonout import dumps
from ..core.paths import bundled_models_dir, user_models_dir
from . import modelformat
from .cardcheck import card_problems, recipe_problems
from .domain import Domain
from .model import ARCHITECTURE, ARCHITECTURE_VERSION, CLASS_NAMES, ElaCnn
from .modelformat import ModelFileError, looks_like_pickle, refuse_pickle
from .modelpaths import (  # noqa: F401 - re-exported: callers use modelfile.weights_path_for
    CARD_SUFFIX,
    DEFAULT_MODEL_STEM,
    WEIGHTS_SUFFIX,
    card_path_for,
    weights_path_for,
)
from .preprocess import RESIZE_FILTERS, Recipe

PICKLE_SUFFIXES = frozenset({".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".tar", ".zip"})
AGGREGATIONS = ("max", "mean", "top2mean")
MODES = ("resize", "tiles")
CHANNELS = ("rgb", "ghost")
INPUT_CHANNELS = 3
"""Every recipe feeds the network three channels (RGB ELA, or three ELA qualities)."""
STALE_TEMP_SECONDS = 600
"""A model's temporary file untouched this long belongs to a writer that died (it is removed)."""


@dataclass
class ModelCard:
    """What a model is, how its inputs are made, and how it was trained and measured."""

    name: str
    architecture: str = ARCHITECTURE
    architecture_version: int = ARCHITECTURE_VERSION
    recipe: dict = field(default_factory=lambda: Recipe().as_dict())
    class_names: list = field(default_factory=lambda: list(CLASS_NAMES))
    threshold: float = 0.5
    """P(tampered) at or above this is labelled 'tampered'."""
    temperature: float = 1.0
    """Logits are divided by this before the softmax (calibration)."""
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    created: str = ""
    """ISO 8601 time; filled in by save_model when empty."""
    weights_sha256: str = ""
    """SHA-256 of the tensor data section (of the whole weights file in the old two-file
    format); filled in by save_model."""
    reproduce: str = ""
    """The command that reproduces this model."""
    notes: str = ""
    domain: dict = field(default_factory=dict)
    """The files the model's numbers were measured on (``ml.verdict.Domain``); outside it the
    verdict is 'inconclusive'. Empty: the card declares none (older or hand-made cards)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> ModelCard:
        """Build a card from parsed JSON; unknown keys are ignored, wrong types raise ValueError."""
        if not isinstance(data, dict):
            raise ValueError("the model card is not a JSON object")
        if not isinstance(data.get("name"), str) or not data["name"]:
            raise ValueError("the model card has no 'name'")
        expected: dict[str, type | tuple[type, ...]] = {
            "name": str,
            "architecture": str,
            "architecture_version": int,
            "recipe": dict,
            "class_names": list,
            "threshold": (int, float),
            "temperature": (int, float),
            "training": dict,
            "metrics": dict,
            "created": str,
            "weights_sha256": str,
            "reproduce": str,
            "notes": str,
            "domain": dict,
        }
        values: dict[str, Any] = {}
        for item in fields(cls):
            if item.name not in data:
                continue
            value = data[item.name]
            kind = expected[item.name]
            if isinstance(value, bool) or not isinstance(value, kind):
                raise ValueError(f"model card field '{item.name}' has the wrong type")
            values[item.name] = value
        card = cls(**values)
        card.threshold = float(card.threshold)
        card.temperature = float(card.temperature)
        problems = card_problems(card)
        if problems:
            raise ValueError("; ".join(problems))
        if card.domain:
            try:
                Domain.from_dict(card.domain)
            except ValueError as error:
                raise ValueError(f"the validated domain is invalid: {error}") from None
        return card


@dataclass
class LoadedModel:
    model: ElaCnn
    """In eval mode, float32, on the CPU."""
    card: ModelCard
    path: Path
    """The weights file."""
    recipe: Recipe
    card_file: Path | None = None
    """Where the card was read: the weights file itself, or NAME.json of an old two-file model."""

    @property
    def card_path(self) -> Path:
        return self.card_file or self.path

    @property
    def name(self) -> str:
        return self.card.name


def save_model(
    path: str | Path, model: torch.nn.Module, card: ModelCard, half: bool = False
) -> Path:
    """Write the model as one file (card in the header), replaced in one rename.

    ``half`` stores floating-point tensors as float16. The card is saved with the SHA-256 of the
    tensor data and, when empty, the creation time and the file's name. Returns the path.
    """
    weights_path = weights_path_for(path)
    tensors = {}
    for key, tensor in model.state_dict().items():
        tensor = tensor.detach().to("cpu")
        if half and tensor.is_floating_point():
            tensor = tensor.half()
        tensors[key] = tensor.contiguous()
    metadata = {
        "format": "pt",
        "architecture": card.architecture,
        "architecture_version": str(card.architecture_version),
        "storage": "float16" if half else "float32",
    }
    weights = save_safetensors_bytes(tensors, metadata=metadata)
    start = modelformat.parse_header(weights_path, weights, len(weights)).data_start
    final = replace(
        card,
        name=card.name or weights_path.stem,
        created=card.created or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        weights_sha256=hashlib.sha256(memoryview(weights)[start:]).hexdigest(),
    )
    problems = card_problems(final)
    if problems:  # refuse to write a model that would not load
        raise ModelFileError(weights_path, "the model card is invalid: " + "; ".join(problems))
    card_text = dumps(final.to_dict(), ensure_ascii=False)
    weights = modelformat.with_metadata(weights_path, weights, {modelformat.CARD_KEY: card_text})
    _remove_stale_temporaries(weights_path)
    old_card = _legacy_card_of(weights_path)
    # One file, one rename: a crash at any point leaves the old model or the new one.
    with atomic_open(weights_path) as handle:
        handle.write(weights)
    if old_card is not None:
        # The replaced model's NAME.json now describes nothing; the new file's own card wins
        # anyway, so a crash before this line leaves a harmless leftover.
        with contextlib.suppress(OSError):
            old_card.unlink()
    return weights_path


def _legacy_card_of(weights_path: Path) -> Path | None:
    """NAME.json when it is a model card for the weights being replaced (an old two-file model,
    or the leftover of a save killed before it removed it); any other NAME.json is kept."""
    if not weights_path.is_file():
        return None
    try:
        card, card_path = modelformat.read_legacy_card(weights_path)
    except ModelFileError:
        return None
    return card_path if {"weights_sha256", "recipe"} <= card.keys() else None


def _remove_stale_temporaries(weights_path: Path) -> None:
    """Temporary files of earlier writes of this model that were killed (a model is ~60-118 MB).

    Only old ones: a younger one may belong to a writer that is still running.
    """
    folder = weights_path.parent
    if not folder.is_dir():
        return
    now = time.time()
    for temporary in folder.glob(glob.escape(temp_prefix(weights_path)) + "*.tmp"):
        with contextlib.suppress(OSError):
            if now - temporary.stat().st_mtime > STALE_TEMP_SECONDS:
                temporary.unlink()


def _check_recipe(card_path: Path, card: ModelCard) -> Recipe:
    problems = recipe_problems(card.recipe)  # types and ranges, before anything computes
    if problems:
        raise ModelFileError(card_path, "the input recipe is invalid: " + "; ".join(problems))
    try:
        recipe = Recipe.from_dict(card.recipe)
    except (TypeError, ValueError, OverflowError) as error:
        raise ModelFileError(card_path, f"the input recipe is invalid ({error})") from None
    problems = []
    if recipe.mode not in MODES:
        problems.append(f"unknown mode {recipe.mode!r}")
    if recipe.aggregate not in AGGREGATIONS:
        problems.append(f"unknown tile aggregation {recipe.aggregate!r}")
    if recipe.resize_filter not in RESIZE_FILTERS:
        problems.append(f"unknown resize filter {recipe.resize_filter!r}")
    if not (isinstance(recipe.quality, int) and 1 <= recipe.quality <= 100):
        problems.append(f"JPEG quality {recipe.quality!r} is not 1-100")
    if not (isinstance(recipe.size, int) and recipe.size >= 10):
        problems.append(f"input size {recipe.size!r} is too small")
    if not (isinstance(recipe.tile_stride, int) and recipe.tile_stride > 0):
        problems.append(f"tile stride {recipe.tile_stride!r} is not a positive integer")
    if recipe.channels not in CHANNELS:
        problems.append(f"unknown channels {recipe.channels!r}")
    if recipe.channels == "ghost":
        # preprocess cuts 3-channel tiles: one ELA quality per channel.
        if len(recipe.qualities) != 3 or not all(1 <= q <= 100 for q in recipe.qualities):
            problems.append(f"ghost channels need 3 JPEG qualities 1-100, got {recipe.qualities}")
        if not (isinstance(recipe.gain, int | float) and recipe.gain > 0):
            problems.append(f"ghost gain {recipe.gain!r} is not positive")
    if problems:
        raise ModelFileError(card_path, "the input recipe is invalid: " + "; ".join(problems))
    return recipe


def _build_model(weights_path: Path, tensors: dict, recipe: Recipe) -> ElaCnn:
    for key, tensor in tensors.items():
        if not bool(torch.isfinite(tensor).all()):
            raise ModelFileError(weights_path, f"tensor {key!r} contains NaN or infinity")
    # Built on the meta device: no time is spent on a random initialisation that the file's
    # weights replace; assign=True then adopts the loaded tensors as the parameters.
    with torch.device("meta"):
        model = ElaCnn(input_size=recipe.size, in_channels=INPUT_CHANNELS)
    try:
        model.load_state_dict(tensors, strict=True, assign=True)
    except RuntimeError as error:
        detail = " ".join(str(error).split("\n", 1)[-1].split())
        raise ModelFileError(
            weights_path,
            f"the weights do not fit the {ARCHITECTURE} network with {recipe.size}x{recipe.size} "
            f"inputs ({detail[:300]})",
        ) from None
    return model.eval()


@dataclass
class ModelFileContents:
    """A model file read and its card parsed, before any architecture-specific check."""

    weights_path: Path
    data: bytes
    header: Any
    card: ModelCard
    card_path: Path

    def check_weights_hash(self) -> None:
        """The card's SHA-256 against the weights: a single file's card hashes the tensor data
        (it cannot hash the header it is in); an old card beside the weights hashes the file."""
        card = self.card
        if not card.weights_sha256:
            return
        single = self.card_path == self.weights_path
        hashed = memoryview(self.data)[self.header.data_start :] if single else self.data
        if hashlib.sha256(hashed).hexdigest() != card.weights_sha256.lower():
            raise ModelFileError(
                self.weights_path,
                "the weights do not match the SHA-256 in the model card "
                "(the file was changed, damaged or replaced)",
            )


def read_model_file(path: str | Path) -> ModelFileContents:
    """Read any model file safely: pickles refused by name and content, the header and card
    parsed and checked for types; every failure a ModelFileError naming the file."""
    given = Path(path)
    if given.suffix.lower() in PICKLE_SUFFIXES:
        raise refuse_pickle(given)
    if given.is_dir():
        raise ModelFileError(given, "is a folder, not a model file")
    if given.exists() and not given.name.endswith((WEIGHTS_SUFFIX, CARD_SUFFIX)):
        with open(given, "rb") as handle:
            head = handle.read(4)
        if looks_like_pickle(head):
            raise refuse_pickle(given)
        raise ModelFileError(given, "not a model file (expected NAME.safetensors)")
    weights_path = weights_path_for(given)
    if not weights_path.is_file():
        raise ModelFileError(weights_path, "the weights file does not exist")
    try:
        data = weights_path.read_bytes()
    except OSError as error:
        raise ModelFileError(weights_path, f"cannot read the file ({error.strerror})") from None
    header = modelformat.parse_header(weights_path, data, len(data))
    card_data, card_path = modelformat.read_card(weights_path, header)
    try:
        card = ModelCard.from_dict(card_data)
    except ValueError as error:
        raise ModelFileError(card_path, f"the model card is invalid: {error}") from None
    return ModelFileContents(weights_path, data, header, card, card_path)


def load_model(path: str | Path) -> LoadedModel:
    """Load ``NAME.safetensors`` (or ``NAME``; ``NAME.json`` names an old two-file model)."""
    contents = read_model_file(path)
    weights_path, data, card, card_path = (
        contents.weights_path, contents.data, contents.card, contents.card_path
    )  # fmt: skip
    if card.architecture != ARCHITECTURE or card.architecture_version != ARCHITECTURE_VERSION:
        raise ModelFileError(
            card_path,
            f"architecture {card.architecture} v{card.architecture_version} is not supported "
            f"(this version runs {ARCHITECTURE} v{ARCHITECTURE_VERSION})",
        )
    if list(card.class_names) != list(CLASS_NAMES):
        raise ModelFileError(
            card_path, f"class names {card.class_names} are not {list(CLASS_NAMES)} in that order"
        )
    recipe = _check_recipe(card_path, card)
    contents.check_weights_hash()
    try:
        tensors = load_safetensors_bytes(data)
    except Exception as error:  # safetensors raises its own error type for any malformed input
        raise ModelFileError(weights_path, f"not a valid safetensors file ({error})") from None
    del data, contents
    for key, tensor in tensors.items():
        if not tensor.is_floating_point():
            raise ModelFileError(weights_path, f"tensor {key!r} is not floating point")
    tensors = {key: tensor.float() for key, tensor in tensors.items()}
    model = _build_model(weights_path, tensors, recipe)
    return LoadedModel(
        model=model, card=card, path=weights_path, recipe=recipe, card_file=card_path
    )


def list_models(extra_dirs: tuple | list = ()) -> list[Path]:
    """Model files with a card (in the file, or beside it): bundled, the user's, then extras."""
    found: list[Path] = []
    seen: set[Path] = set()
    for folder in (bundled_models_dir(), user_models_dir(), *map(Path, extra_dirs)):
        if not folder.is_dir():
            continue
        for weights in sorted(folder.glob("*" + WEIGHTS_SUFFIX)):
            resolved = weights.resolve()
            if weights.name.startswith(".") or resolved in seen:
                continue
            if modelformat.has_card(weights):
                seen.add(resolved)
                found.append(weights)
    return found


def default_model_path() -> Path | None:
    """The shipped default model, or None when no default model is installed."""
    candidate = bundled_models_dir() / (DEFAULT_MODEL_STEM + WEIGHTS_SUFFIX)
    return candidate if candidate.is_file() else None


def resolve_model(spec: str | Path, extra_dirs: tuple | list = ()) -> Path:
    """A model path from a path (with or without suffix) or the name of a listed model."""
    path = Path(spec)
    if path.suffix.lower() in PICKLE_SUFFIXES or path.is_file() or path.is_dir():
        return path
    if weights_path_for(path).is_file():
        return weights_path_for(path)
    known = list_models(extra_dirs)
    for weights in known:
        if weights.stem == str(spec):
            return weights
    names = ", ".join(sorted(w.stem for w in known)) or "none installed"
    raise ModelFileError(path, f"no such model file or model name (known models: {names})")
