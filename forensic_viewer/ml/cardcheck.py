"""Range checks for every model card field, so a hostile or damaged card is refused by name.

A card is data from a file: ``temperature: Infinity`` made every image p = 0.5 'tampered', and
``recipe.size = 1e9`` overflowed storage (issue 12). Each problem is one phrase naming the
field; ``modelfile`` joins them into a ModelFileError naming the file. Types are checked by
``ModelCard.from_dict``; these are the ranges.
"""

from __future__ import annotations

import math
import re
from typing import Any

TEMPERATURE_RANGE = (1e-3, 1e3)
"""Logits are divided by the temperature: outside this range every score is 0, 0.5 or 1."""
MAX_INPUT_SIZE = 1024
"""The network's dense layer grows with size^2 (115,200 inputs at 128); 1024 is 64 times that."""
MAX_TILE_STRIDE = 4096
MAX_GAIN = 1000.0
MAX_TEXT = 10_000
"""Characters in one text field of a card (the reproduce command, notes...)."""
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    return _number(value) and math.isfinite(value)


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def card_problems(card: Any) -> list[str]:
    """Out-of-range fields of a ModelCard (attributes as from_dict set them)."""
    problems = []
    threshold, temperature = card.threshold, card.temperature
    if not (_finite(threshold) and 0.0 <= threshold <= 1.0):
        problems.append(f"field 'threshold' must be a number between 0 and 1 (got {threshold!r})")
    low, high = TEMPERATURE_RANGE
    if not (_finite(temperature) and low <= temperature <= high):
        problems.append(
            f"field 'temperature' must be a finite number from {low:g} to {high:g} "
            f"(got {temperature!r})"
        )
    if not _whole(card.architecture_version, 0, 1_000_000):
        problems.append(f"field 'architecture_version' {card.architecture_version!r} is invalid")
    if card.weights_sha256 and not _SHA256.fullmatch(card.weights_sha256):
        problems.append("field 'weights_sha256' is not 64 hexadecimal digits")
    if not all(isinstance(name, str) and len(name) <= 100 for name in card.class_names):
        problems.append("field 'class_names' must hold short texts")
    for name in ("name", "architecture", "created", "reproduce", "notes"):
        value = getattr(card, name)
        if isinstance(value, str) and len(value) > MAX_TEXT:
            problems.append(f"field {name!r} is longer than {MAX_TEXT:,} characters")
    return problems


def recipe_problems(recipe: Any) -> list[str]:
    """Out-of-range or mistyped fields of a card's raw ``recipe`` object."""
    if not isinstance(recipe, dict):
        return ["'recipe' is not an object"]
    problems = []
    checks = {
        "quality": lambda v: _whole(v, 1, 100),
        "size": lambda v: _whole(v, 10, MAX_INPUT_SIZE),
        "tile_stride": lambda v: _whole(v, 1, MAX_TILE_STRIDE),
        "gain": lambda v: _finite(v) and 0 <= v <= MAX_GAIN,
        "qualities": lambda v: (
            isinstance(v, list) and len(v) <= 8 and all(_whole(q, 1, 100) for q in v)
        ),
    }
    limits = {
        "quality": "a whole number 1-100",
        "size": f"a whole number 10-{MAX_INPUT_SIZE}",
        "tile_stride": f"a whole number 1-{MAX_TILE_STRIDE}",
        "gain": f"a number 0-{MAX_GAIN:g}",
        "qualities": "a list of at most 8 whole numbers 1-100",
    }
    for key, ok in checks.items():
        if key in recipe and not ok(recipe[key]):
            shown = repr(recipe[key])
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            problems.append(f"recipe.{key} must be {limits[key]} (got {shown})")
    for key in ("name", "resize_filter", "mode", "aggregate", "channels", "tile_labels"):
        value = recipe.get(key, "")
        if not (isinstance(value, str) and len(value) <= 100):
            problems.append(f"recipe.{key} must be a short text")
    return problems
