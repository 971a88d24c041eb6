"""The registry of forensic analyses (views). ``REGISTRY[name]`` is an :class:`Analysis`.

Adding a view: write one module here that calls ``register(MyAnalysis())`` at import, and add one
import line at the bottom of this file. The GUI tabs, the CLI subcommands and the report are built
from ``REGISTRY`` in insertion order.
"""

from __future__ import annotations

from .base import (
    Analysis,
    AnalysisCancelled,
    AnalysisResult,
    Cancelled,
    Finding,
    Param,
    Progress,
    check_cancel,
    resolve_params,
    run_analysis,
)

REGISTRY: dict[str, Analysis] = {}


def register(analysis: Analysis) -> Analysis:
    """Add ``analysis`` to the registry under its name (a name may be registered only once)."""
    name = analysis.name
    if not name or not name.replace("-", "").replace("_", "").isalnum() or name != name.lower():
        raise ValueError(f"analysis name must be lower-case letters, digits, '-' or '_': {name!r}")
    if name in REGISTRY and REGISTRY[name] is not analysis:
        raise ValueError(f"an analysis named {name!r} is already registered")
    REGISTRY[name] = analysis
    return analysis


__all__ = [
    "REGISTRY",
    "Analysis",
    "AnalysisCancelled",
    "AnalysisResult",
    "Cancelled",
    "Finding",
    "Param",
    "Progress",
    "check_cancel",
    "register",
    "resolve_params",
    "run_analysis",
]

# Built-in analyses register themselves at import: one line per module, in tab order.
# isort: off
from . import ela as _ela  # noqa: E402, F401
from . import grid as _grid  # noqa: E402, F401
from . import clone as _clone  # noqa: E402, F401
from . import noise as _noise  # noqa: E402, F401
from . import double_jpeg as _double_jpeg  # noqa: E402, F401
from . import thumbnail as _thumbnail  # noqa: E402, F401
# isort: on
