"""How a model's two files are named (weights + card), without importing torch.

The viewer lists models while its window starts, before torch is loaded; ``modelfile`` and the
UI's model catalog share these rules.
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS_SUFFIX = ".safetensors"
CARD_SUFFIX = ".json"
DEFAULT_MODEL_STEM = "default"


def weights_path_for(path: str | Path) -> Path:
    """``models/x`` / ``models/x.safetensors`` / ``models/x.json`` -> ``models/x.safetensors``."""
    path = Path(path)
    if path.name.endswith(WEIGHTS_SUFFIX):
        return path
    if path.name.endswith(CARD_SUFFIX):
        return path.with_suffix(WEIGHTS_SUFFIX)
    return path.parent / (path.name + WEIGHTS_SUFFIX)


def card_path_for(path: str | Path) -> Path:
    return weights_path_for(path).with_suffix(CARD_SUFFIX)
