"""Model files: ``NAME.safetensors`` (weights) with a ``NAME.json`` model card beside them.

Loading never executes code: weights are read only through safetensors, whose format is a JSON
header plus raw tensor bytes. Pickle-based PyTorch files (``.pt``/``.pth``/...) are refused by
name and by content, without being opened by a pickle loader, because unpickling can run
arbitrary code. Every failure is a :class:`ModelFileError` naming the file and the reason.

Weights may be stored as float16 to halve the download (about 60 MB instead of 118 MB for the
classic network); they are always loaded as float32. Writes are atomic (core/atomic.py), and the
card records the SHA-256 of the weights file, so a card and weights that do not belong together
are detected instead of silently giving verdicts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from ..core.atomic import atomic_open
from ..core.errors import ForensicError
from ..core.paths import bundled_models_dir, user_models_dir
from .model import ARCHITECTURE, ARCHITECTURE_VERSION, CLASS_NAMES, ElaCnn
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
_MAX_HEADER_BYTES = 100_000_000  # the safetensors reference implementation's own limit


class ModelFileError(ForensicError):
    """A model file is missing, damaged, of the wrong kind, or does not fit the network."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


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
    """SHA-256 of the weights file; filled in by save_model."""
    reproduce: str = ""
    """The command that reproduces this model."""
    notes: str = ""

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
        if not 0.0 <= card.threshold <= 1.0:
            raise ValueError(f"threshold {card.threshold} is not between 0 and 1")
        if not card.temperature > 0.0:
            raise ValueError(f"temperature {card.temperature} is not positive")
        return card


@dataclass
class LoadedModel:
    model: ElaCnn
    """In eval mode, float32, on the CPU."""
    card: ModelCard
    path: Path
    """The weights file."""
    recipe: Recipe

    @property
    def card_path(self) -> Path:
        return card_path_for(self.path)

    @property
    def name(self) -> str:
        return self.card.name


def save_model(
    path: str | Path, model: torch.nn.Module, card: ModelCard, half: bool = False
) -> Path:
    """Write weights and card atomically; returns the weights path.

    ``half`` stores floating-point tensors as float16. The card is saved with the weights'
    SHA-256 and, when empty, the creation time and the file's name.
    """
    weights_path = weights_path_for(path)
    card_path = card_path_for(weights_path)
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
    final = replace(
        card,
        name=card.name or weights_path.stem,
        created=card.created or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        weights_sha256=hashlib.sha256(weights).hexdigest(),
    )
    card_bytes = (json.dumps(final.to_dict(), indent=2, sort_keys=False) + "\n").encode("utf-8")
    # Both temporary files are complete and on disk before either is renamed, so a failure while
    # writing leaves the old pair untouched; only the two renames themselves are not one step,
    # and a mismatched pair is then caught by the SHA-256 check when loading.
    with atomic_open(weights_path) as weights_handle:
        weights_handle.write(weights)
        weights_handle.flush()
        os.fsync(weights_handle.fileno())
        with atomic_open(card_path) as card_handle:
            card_handle.write(card_bytes)
    return weights_path


def _looks_like_pickle(head: bytes) -> bool:
    """PyTorch zip archives and raw pickles (protocols 2-5)."""
    return head.startswith(b"PK\x03\x04") or (
        len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5
    )


def _refuse_pickle(path: Path) -> ModelFileError:
    return ModelFileError(
        path,
        "this is a PyTorch pickle file; Forensic Viewer only loads .safetensors model files, "
        "because loading a pickle can run arbitrary code",
    )


def _looks_like_safetensors(data: bytes) -> bool:
    if len(data) < 9:
        return False
    header_size = int.from_bytes(data[:8], "little")
    return header_size <= _MAX_HEADER_BYTES and data[8:9] == b"{"


def _check_layout(path: Path, data: bytes) -> None:
    """Clear errors for truncated or foreign files before safetensors parses them."""
    if not _looks_like_safetensors(data):
        if _looks_like_pickle(data[:4]):
            raise _refuse_pickle(path)
        if len(data) < 9:
            raise ModelFileError(path, f"the file is truncated or empty ({len(data)} bytes)")
        raise ModelFileError(path, "not a safetensors weights file")
    header_size = int.from_bytes(data[:8], "little")
    if 8 + header_size > len(data):
        raise ModelFileError(
            path, f"the file is truncated ({len(data):,} bytes, shorter than its own header)"
        )
    try:
        header = json.loads(data[8 : 8 + header_size])
        ends = [
            int(entry["data_offsets"][1]) for key, entry in header.items() if key != "__metadata__"
        ]
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        raise ModelFileError(path, "not a safetensors weights file (unreadable header)") from None
    expected = 8 + header_size + max(ends, default=0)
    if len(data) < expected:
        raise ModelFileError(
            path, f"the file is truncated ({len(data):,} bytes of the expected {expected:,})"
        )


def _read_card(card_path: Path) -> ModelCard:
    if not card_path.is_file():
        raise ModelFileError(
            card_path,
            "the model card is missing (every NAME.safetensors needs NAME.json beside it)",
        )
    try:
        return ModelCard.from_dict(json.loads(card_path.read_text(encoding="utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(card_path, f"the model card is not valid JSON ({error})") from None
    except ValueError as error:
        raise ModelFileError(card_path, f"the model card is invalid: {error}") from None
    except OSError as error:
        raise ModelFileError(card_path, f"cannot read the model card ({error.strerror})") from None


def _check_recipe(card_path: Path, card: ModelCard) -> Recipe:
    try:
        recipe = Recipe.from_dict(card.recipe)
    except (TypeError, ValueError) as error:
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


def load_model(path: str | Path) -> LoadedModel:
    """Load ``NAME.safetensors`` + ``NAME.json`` (either path, or NAME without suffix)."""
    given = Path(path)
    if given.suffix.lower() in PICKLE_SUFFIXES:
        raise _refuse_pickle(given)
    if given.is_dir():
        raise ModelFileError(given, "is a folder, not a model file")
    if given.exists() and not given.name.endswith((WEIGHTS_SUFFIX, CARD_SUFFIX)):
        with open(given, "rb") as handle:
            head = handle.read(4)
        if _looks_like_pickle(head):
            raise _refuse_pickle(given)
        raise ModelFileError(given, "not a model file (expected NAME.safetensors)")
    weights_path = weights_path_for(given)
    if not weights_path.is_file():
        raise ModelFileError(weights_path, "the weights file does not exist")
    card_path = card_path_for(weights_path)
    try:
        data = weights_path.read_bytes()
    except OSError as error:
        raise ModelFileError(weights_path, f"cannot read the file ({error.strerror})") from None
    _check_layout(weights_path, data)
    card = _read_card(card_path)
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
    if card.weights_sha256:
        actual = hashlib.sha256(data).hexdigest()
        if actual != card.weights_sha256.lower():
            raise ModelFileError(
                weights_path,
                "the weights do not match the SHA-256 in the model card "
                "(the file was changed, damaged or replaced)",
            )
    try:
        tensors = load_safetensors_bytes(data)
    except Exception as error:  # safetensors raises its own error type for any malformed input
        raise ModelFileError(weights_path, f"not a valid safetensors file ({error})") from None
    del data
    for key, tensor in tensors.items():
        if not tensor.is_floating_point():
            raise ModelFileError(weights_path, f"tensor {key!r} is not floating point")
    tensors = {key: tensor.float() for key, tensor in tensors.items()}
    model = _build_model(weights_path, tensors, recipe)
    return LoadedModel(model=model, card=card, path=weights_path, recipe=recipe)


def list_models(extra_dirs: tuple | list = ()) -> list[Path]:
    """Weights files that have a card beside them: bundled first, then the user's, then extras."""
    found: list[Path] = []
    seen: set[Path] = set()
    for folder in (bundled_models_dir(), user_models_dir(), *map(Path, extra_dirs)):
        if not folder.is_dir():
            continue
        for weights in sorted(folder.glob("*" + WEIGHTS_SUFFIX)):
            resolved = weights.resolve()
            if weights.name.startswith(".") or resolved in seen:
                continue
            if card_path_for(weights).is_file():
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
