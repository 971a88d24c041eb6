"""Model files the viewer offers, and their cards, found without importing torch.

The Model menu and the badge need to know which models exist while the window starts, and
``ml.modelfile`` imports torch (seconds of start-up). The rules here are ``list_models``'s
(tests/ui/test_model_menu.py checks that both agree): ``NAME.safetensors`` with its card in its
header (or, for older models, ``NAME.json`` beside it), the bundled folder first, then the
user's; hidden files and duplicates skipped. Cards are read from the header alone (no torch)
for display; the weights are only checked when a worker loads them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from forensic_viewer.core.paths import bundled_models_dir, user_models_dir
from forensic_viewer.ml import modelformat
from forensic_viewer.ml.modelpaths import (
    CARD_SUFFIX,  # noqa: F401 - part of this module's interface (model_menu uses it)
    WEIGHTS_SUFFIX,
    weights_path_for,
)
from forensic_viewer.ml.modelpaths import DEFAULT_MODEL_STEM as DEFAULT_STEM


def bundled_dir() -> Path:
    """The shipped models (tests point this at an empty folder so windows start model-less)."""
    return bundled_models_dir()


def user_dir() -> Path:
    return user_models_dir()


def find_models(extra: Iterable[str | Path] = ()) -> list[Path]:
    """Usable-looking model files: bundled, then the user's folder, then ``extra`` files."""
    found: list[Path] = []
    seen: set[Path] = set()

    def add(weights: Path) -> None:
        resolved = weights.resolve()
        if weights.name.startswith(".") or resolved in seen:
            return
        if weights.is_file() and modelformat.has_card(weights):
            seen.add(resolved)
            found.append(weights)

    for folder in (bundled_dir(), user_dir()):
        if folder.is_dir():
            for weights in sorted(folder.glob("*" + WEIGHTS_SUFFIX)):
                add(weights)
    for item in extra:
        add(weights_path_for(item))
    return found


def default_model() -> Path | None:
    candidate = bundled_dir() / (DEFAULT_STEM + WEIGHTS_SUFFIX)
    return candidate if candidate.is_file() else None


def origin(path: Path) -> str:
    """'bundled', 'yours' or 'file', for the menu."""
    parent = path.parent.resolve()
    if bundled_dir().is_dir() and parent == bundled_dir().resolve():
        return "bundled"
    if user_dir().is_dir() and parent == user_dir().resolve():
        return "yours"
    return "file"


@dataclass(frozen=True)
class CardText:
    """A card as read from a model file (or from a loaded model's ``card.to_dict()``)."""

    data: dict
    path: Path | None = None

    @classmethod
    def read(cls, weights: str | Path) -> CardText:
        """Raises ValueError with a user sentence naming the file when the card is unusable."""
        try:
            data, path = modelformat.read_card(weights_path_for(weights))
        except modelformat.ModelFileError as error:
            raise ValueError(f"{error.path.name}: {error.reason}") from None
        return cls(data, path)

    @property
    def name(self) -> str:
        return str(self.data.get("name") or (self.path.stem if self.path else "model"))

    @property
    def recipe(self) -> dict:
        recipe = self.data.get("recipe")
        return recipe if isinstance(recipe, dict) else {}

    @property
    def weights_sha256(self) -> str:
        return str(self.data.get("weights_sha256") or "")

    @property
    def threshold(self) -> float | None:
        return _float(self.data.get("threshold"))

    def validation(self) -> dict:
        metrics = self.data.get("metrics")
        if not isinstance(metrics, dict):
            return {}
        validation = metrics.get("validation")
        return validation if isinstance(validation, dict) else {}

    def describe_recipe(self) -> str:
        recipe = self.recipe
        if not recipe:
            return "unknown input recipe"
        if recipe.get("channels") == "ghost":
            qualities = "/".join(str(q) for q in recipe.get("qualities") or ())
            what = f"ELA at q{qualities} as channels"
        else:
            what = f"ELA q{recipe.get('quality', '?')}"
        if recipe.get("mode") == "tiles":
            size, stride = recipe.get("size", "?"), recipe.get("tile_stride", "?")
            how = f"{size} px tiles every {stride} px, {recipe.get('aggregate', '?')} of tiles"
        else:
            size = recipe.get("size", "?")
            how = f"whole image resized to {size} x {size}"
        return f"{recipe.get('name', '?')} recipe: {what}, {how}"

    def describe_training(self) -> str:
        training = self.data.get("training")
        dataset = training.get("dataset") if isinstance(training, dict) else None
        counts = dataset.get("counts") if isinstance(dataset, dict) else None
        if not isinstance(counts, dict) or not counts:
            return "training data not recorded"
        parts = ", ".join(f"{n} {label}" for label, n in counts.items())
        root = dataset.get("root")
        return f"trained on {parts}" + (f" from {Path(str(root)).name}" if root else "")

    def describe_metrics(self) -> str:
        val = self.validation()
        accuracy, auc = _float(val.get("accuracy")), _float(val.get("roc_auc"))
        if accuracy is None and auc is None:
            return "no validation metrics recorded"
        bits = []
        if accuracy is not None:
            bits.append(f"accuracy {accuracy:.1%}")
        if auc is not None:
            bits.append(f"ROC AUC {auc:.3f}")
        count = val.get("count")
        where = f" on {count} validation images" if isinstance(count, int) else ""
        return "validation " + ", ".join(bits) + where

    def describe_domain(self) -> str:
        """'validated on: JPEG; 256-384 px sides; ...' or that the card declares no domain."""
        from forensic_viewer.ml.domain import Domain  # torch-free

        data = self.data.get("domain")
        if not data:
            return "validated domain: not declared by this card"
        try:
            domain = Domain.from_dict(data)
        except ValueError as error:
            return f"validated domain: invalid ({error})"
        where = f" ({domain.validated_on})" if domain.validated_on else ""
        return f"validated on{where}: {domain.describe()}"

    def summary(self) -> str:
        """A few lines for the badge's tooltip."""
        lines = [
            f"Model: {self.name}",
            self.describe_recipe(),
            self.describe_training(),
            self.describe_metrics(),
        ]
        if self.threshold is not None:
            lines.append(f"threshold {self.threshold:.2f} on P(tampered)")
        lines.append(self.describe_domain())
        notes = str(self.data.get("notes") or "").strip()
        if notes:
            lines.append(f"notes: {notes}")
        return "\n".join(lines)


def _float(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
