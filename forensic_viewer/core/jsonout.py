"""JSON the project writes: always strict JSON, whatever the values.

``json.dumps`` writes ``NaN`` and ``Infinity`` by default, which strict parsers (JavaScript,
jq, most other languages) refuse. Every JSON output goes through :func:`dumps`: non-finite
numbers become ``null`` and ``allow_nan=False`` makes any one that slips through an error
instead of invalid output.
"""

from __future__ import annotations

import json
import math
from pathlib import PurePath
from typing import Any


def json_safe(value: Any) -> Any:
    """``value`` with NaN/inf replaced by None, tuples as lists, numpy scalars as Python ones."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, bool | str | None):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, PurePath):
        return str(value)
    # numpy scalars, without importing numpy here: they convert with item()
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        return json_safe(item())
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`json_safe` values; other objects are written as ``str()``."""
    kwargs.setdefault("default", str)
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)
