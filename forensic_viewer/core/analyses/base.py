"""The analysis protocol: one small interface every forensic view implements.

A view (ELA, clone detection, noise, ...) is one module in ``core/analyses`` that registers an
object satisfying :class:`Analysis`. The GUI's generic tab, the CLI's subcommands and the report all
read the registry, so adding a view needs no edits elsewhere.

``run`` is a plain function: it reports progress through a callback (fraction 0..1) and polls
``cancel``; when that returns True it raises :class:`AnalysisCancelled`. No Qt, no torch here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # only for annotations: images.py needs no import at run time
    from ..images import LoadedImage

PARAM_KINDS = ("int", "float", "choice", "bool")
SEVERITIES = ("info", "notice", "warning")


@dataclass(frozen=True)
class Param:
    """One user-settable parameter; the GUI builds a control and the CLI an option from it."""

    name: str
    label: str
    kind: str  # 'int' | 'float' | 'choice' | 'bool'
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""

    def __post_init__(self) -> None:
        if self.kind not in PARAM_KINDS:
            raise ValueError(f"parameter {self.name}: kind must be one of {PARAM_KINDS}")
        if self.kind == "choice" and self.default not in self.choices:
            raise ValueError(f"parameter {self.name}: default {self.default!r} not in choices")
        # The default must itself be valid, so a form filled with defaults always runs.
        self.coerce(self.default)

    def coerce(self, value: Any) -> Any:
        """``value`` (a number, a bool or a command-line string) as this parameter's type.

        Raises ValueError with a one-line message naming the parameter when it is invalid.
        """
        try:
            if self.kind == "bool":
                out: Any = _as_bool(value)
            elif self.kind == "choice":
                out = str(value)
                if out not in self.choices:
                    raise ValueError(f"must be one of {', '.join(self.choices)}")
            elif self.kind == "int":
                if isinstance(value, bool):
                    raise ValueError("must be an integer")
                number = float(value) if isinstance(value, str) and "." in value else value
                out = int(number)
                if isinstance(number, float) and number != out:
                    raise ValueError("must be an integer")
            else:
                if isinstance(value, bool):
                    raise ValueError("must be a number")
                out = float(value)
                if not math.isfinite(out):
                    raise ValueError("must be a finite number")
        except (TypeError, ValueError) as exc:
            message = str(exc) if str(exc).startswith("must") else f"invalid value {value!r}"
            raise ValueError(f"{self.name}: {message}") from None
        if self.kind in ("int", "float"):
            if self.minimum is not None and out < self.minimum:
                raise ValueError(f"{self.name}: must be at least {self.minimum:g}, got {out}")
            if self.maximum is not None and out > self.maximum:
                raise ValueError(f"{self.name}: must be at most {self.maximum:g}, got {out}")
        return out


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


@dataclass(frozen=True)
class Finding:
    """One sentence for the analyst, e.g. 'two regions 120 px apart match (38 keypoints)'."""

    text: str
    severity: str = "info"  # 'info' | 'notice' | 'warning'

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")


@dataclass
class AnalysisResult:
    image: np.ndarray | None
    """What the tab shows, aligned to the original pixel grid: H x W x 3 uint8, or H x W float32
    in [0, 1] (rendered with a colormap). May be coarser than the image: see ``cell``."""
    cell: int = 1
    """Pixels per map element (8 for per-block maps); the view scales it up to the image size."""
    mask: np.ndarray | None = None
    """Optional H x W bool (e.g. clone source and destination), drawn as an overlay."""
    lines: list[tuple[float, float, float, float]] = field(default_factory=list)
    """Optional (x1, y1, x2, y2) segments in image pixels, e.g. clone matches."""
    score: float | None = None
    """An image-level number; its meaning is described in ``data``."""
    findings: list[Finding] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    """JSON-serialisable numbers for the report (no NaN)."""
    extra_images: dict[str, np.ndarray] = field(default_factory=dict)
    """Further images, e.g. {'thumbnail': ..., 'difference': ...}."""

    def as_dict(self) -> dict[str, Any]:
        """The JSON part of the result (no pixel arrays): score, findings, data, shapes."""
        return {
            "score": _json_safe(self.score),
            "cell": int(self.cell),
            "map_shape": None if self.image is None else list(self.image.shape),
            "mask_pixels": None if self.mask is None else int(np.count_nonzero(self.mask)),
            "lines": [[_json_safe(v) for v in line] for line in self.lines],
            "findings": [{"text": f.text, "severity": f.severity} for f in self.findings],
            "data": _json_safe(self.data),
            "extra_images": sorted(self.extra_images),
        }


def _json_safe(value: Any) -> Any:
    """Plain Python numbers, lists and dicts; NaN and infinities become None."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


Progress = Callable[[float], None]
"""Reports the fraction done, 0..1."""
Cancelled = Callable[[], bool]
"""Returns True when the user asked to stop; ``run`` then raises AnalysisCancelled."""


class AnalysisCancelled(Exception):
    """Raised by ``Analysis.run`` when its ``cancel`` callback returned True."""


def check_cancel(cancel: Cancelled) -> None:
    """Raise AnalysisCancelled if ``cancel()`` says so (call it between steps of ``run``)."""
    if cancel():
        raise AnalysisCancelled()


def no_progress(_fraction: float) -> None:
    """A Progress that ignores reports."""


def never_cancel() -> bool:
    """A Cancelled that never cancels."""
    return False


@runtime_checkable
class Analysis(Protocol):
    name: str
    """CLI subcommand and registry key, e.g. 'clone', 'noise', 'dq', 'thumbnail', 'ela', 'grid'."""
    title: str
    """Tab title."""
    help: str
    """One paragraph: how to read this, with a failure mode."""
    params: tuple[Param, ...]

    def applies_to(self, image: LoadedImage) -> str | None:
        """None, or why it cannot run on this image (e.g. 'not a JPEG')."""
        ...

    def run(
        self, image: LoadedImage, params: dict, progress: Progress, cancel: Cancelled
    ) -> AnalysisResult: ...


def resolve_params(analysis: Analysis, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults overlaid with ``given``, each value coerced and range-checked.

    Raises ValueError (one line) for an unknown name or an invalid value.
    """
    given = dict(given or {})
    known = {p.name: p for p in analysis.params}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(f"{analysis.name}: unknown parameter(s) {', '.join(unknown)}")
    return {name: p.coerce(given.get(name, p.default)) for name, p in known.items()}


def run_analysis(
    analysis: Analysis,
    image: LoadedImage,
    params: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    cancel: Cancelled | None = None,
) -> AnalysisResult:
    """Resolve parameters, refuse an image the analysis does not apply to, run it.

    Raises ValueError with the reason when ``applies_to`` refuses the image.
    """
    reason = analysis.applies_to(image)
    if reason is not None:
        raise ValueError(f"{analysis.title} cannot run on this image: {reason}")
    resolved = resolve_params(analysis, params)
    result = analysis.run(image, resolved, progress or no_progress, cancel or never_cancel)
    (progress or no_progress)(1.0)
    return result
