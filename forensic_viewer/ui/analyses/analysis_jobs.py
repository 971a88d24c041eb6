"""Running a registered analysis off the GUI thread, and its parameters remembered per analysis.

No widgets here: the tab (``analysis_tab.py``) and the export run the same job. The job reports
progress through a callback that the tab connects to a queued signal, and polls the worker's
abort flag as the protocol's ``cancel``; the result comes back rendered for display (EXIF
orientation applied, a cut-off file's missing rows blank), so the GUI thread only wraps arrays.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forensic_viewer.core.analyses import Analysis, AnalysisResult, Param, resolve_params
from forensic_viewer.core.analyses.render import base_image, render_result
from forensic_viewer.core.images import LoadedImage, orient, pad_missing_rows


@dataclass
class AnalysisFrame:
    """One finished run, ready to show: pictures in display orientation, the full-size map with
    the mask and lines drawn (``picture``) and without them (``plain``; None if there are none)."""

    name: str
    doc_id: int
    params: dict[str, Any]
    result: AnalysisResult
    picture: np.ndarray | None
    """None when the result has no map, mask or lines for this image (e.g. no thumbnail)."""
    plain: np.ndarray | None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0

    def report(self) -> dict[str, Any]:
        """The JSON block of this analysis in the report (params, score, findings, data)."""
        return {"params": dict(self.params), "seconds": round(self.seconds, 3)} | (
            self.result.as_dict()
        )


def display(array: np.ndarray, height: int, orientation: int) -> np.ndarray:
    """A stored-grid picture as shown: missing rows blank, EXIF orientation, C-contiguous."""
    return np.ascontiguousarray(orient(pad_missing_rows(array, height, hatch=False), orientation))


def extra_picture(array: np.ndarray) -> np.ndarray:
    """An extra image (a thumbnail, a difference) as RGB uint8 at its own size."""
    if array.ndim == 2:
        from forensic_viewer.core.analyses.render import colour_map

        if array.dtype == np.uint8:
            return np.ascontiguousarray(np.repeat(array[:, :, None], 3, axis=2))
        return colour_map(array)
    return np.ascontiguousarray(array[:, :, :3].astype(np.uint8, copy=False))


def run_frame(
    analysis: Analysis,
    doc_id: int,
    image: LoadedImage,
    params: Mapping[str, Any],
    progress: Callable[[float], None],
    cancel: Callable[[], bool],
) -> AnalysisFrame:
    """Worker job: run ``analysis`` and render its result for display.

    Raises AnalysisCancelled when ``cancel`` says so, ValueError for invalid parameters.
    """
    resolved = resolve_params(analysis, params)
    started = time.perf_counter()
    result = analysis.run(image, resolved, progress, cancel)
    seconds = time.perf_counter() - started
    progress(1.0)
    height, orientation = image.facts.height, image.facts.orientation
    overlaid = bool(result.lines) or (result.mask is not None and bool(result.mask.any()))
    picture = plain = None
    # without a map, render_result would draw the original: nothing is shown instead
    if result.image is not None or overlaid:
        picture = display(render_result(result, image.pixels), height, orientation)
    if overlaid:
        plain = display(base_image(result, image.pixels), height, orientation)
    extras = {key: extra_picture(value) for key, value in result.extra_images.items()}
    return AnalysisFrame(
        name=analysis.name,
        doc_id=doc_id,
        params=resolved,
        result=result,
        picture=picture,
        plain=plain,
        extras=extras,
        seconds=seconds,
    )


# ---- parameters remembered per analysis ---------------------------------------------------------
def settings_key(analysis_name: str, param: Param) -> str:
    return f"analyses/{analysis_name}/{param.name}"


def load_params(store, analysis: Analysis) -> dict[str, Any]:
    """The remembered values (QSettings ``store``), each falling back to its default when missing
    or no longer valid (a hand-edited INI file, a changed range)."""
    values: dict[str, Any] = {}
    for param in analysis.params:
        raw = store.value(settings_key(analysis.name, param), None)
        try:
            values[param.name] = param.default if raw is None else param.coerce(raw)
        except ValueError:
            values[param.name] = param.default
    return values


def save_params(store, analysis: Analysis, values: Mapping[str, Any]) -> None:
    for param in analysis.params:
        if param.name in values:
            value = values[param.name]
            # INI files keep strings; 'true'/'false' coerce back to bools
            store.setValue(settings_key(analysis.name, param), str(value).lower()
                           if param.kind == "bool" else value)  # fmt: skip


# ---- every analysis at once (the export) ---------------------------------------------------------
@dataclass(frozen=True)
class BatchProgress:
    """Before each analysis of a batch: which one, and how many are done."""

    name: str
    title: str
    done: int
    total: int


def run_batch(
    todo: list[tuple[Analysis, dict[str, Any]]],
    doc_id: int,
    image: LoadedImage,
    cancel: Callable[[], bool],
):
    """Generator job: run each (analysis, params) in turn, yielding a BatchProgress before each.

    Returns {name: AnalysisFrame, or the reason it does not apply (str)}. Raises
    AnalysisCancelled when ``cancel`` says so during a run (the worker also stops between runs).
    """
    out: dict[str, AnalysisFrame | str] = {}
    for done, (analysis, params) in enumerate(todo):
        yield BatchProgress(analysis.name, analysis.title, done, len(todo))
        reason = analysis.applies_to(image)
        if reason is not None:
            out[analysis.name] = reason
            continue
        out[analysis.name] = run_frame(analysis, doc_id, image, params, _ignore, cancel)
    return out


def _ignore(_fraction: float) -> None:
    """Progress inside one analysis is not shown in the batch (the dialog counts analyses)."""


# ---- what is under the mouse -------------------------------------------------------------------
def stored_position(
    col: int, row: int, orientation: int, width: int, height: int
) -> tuple[int, int]:
    """The stored-grid (col, row) shown at display (col, row) under EXIF ``orientation``;
    ``width`` x ``height`` is the stored size (the inverse of ``core.images.orient``)."""
    if orientation == 2:
        return width - 1 - col, row
    if orientation == 3:
        return width - 1 - col, height - 1 - row
    if orientation == 4:
        return col, height - 1 - row
    if orientation == 5:
        return row, col
    if orientation == 6:
        return row, height - 1 - col
    if orientation == 7:
        return width - 1 - row, height - 1 - col
    if orientation == 8:
        return width - 1 - row, col
    return col, row


def value_text(result: AnalysisResult, col: int, row: int) -> str | None:
    """The map's value at stored-grid pixel (col, row), in words for the status bar."""
    parts = []
    image = result.image
    if image is not None:
        r, c = row // max(result.cell, 1), col // max(result.cell, 1)
        if 0 <= r < image.shape[0] and 0 <= c < image.shape[1]:
            value = image[r, c]
            if image.ndim == 2:
                parts.append(f"map {float(value):.3f}")
            else:
                parts.append("map " + " ".join(str(int(v)) for v in value[:3]))
    mask = result.mask
    if (
        mask is not None
        and 0 <= row < mask.shape[0]
        and 0 <= col < mask.shape[1]
        and mask[row, col]
    ):
        parts.append("marked region")
    return "   ".join(parts) or None
