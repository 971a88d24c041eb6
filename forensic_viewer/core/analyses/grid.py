"""The quality grid (a 'JPEG ghost' sweep) as a registered analysis, over the exact ``core.ela``.

The map is the ELA at the quality closest to the file's own (estimated from its quantization
tables); every quality's rendering is in ``extra_images`` as ``q60``, ``q70``, ...
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from .. import ela as ela_maths
from ..images import LoadedImage
from . import register
from .base import AnalysisResult, Cancelled, Finding, Param, Progress, check_cancel
from .ela import GAIN, GRAYSCALE, as_rgb, jpeg_note, scale_of

QUALITY_SETS = ("60,70,80,90,95,100", "50,60,70,80,90,100", "70,75,80,85,90,95")
QUALITIES = Param(
    "qualities", "Qualities", "choice", QUALITY_SETS[0], choices=QUALITY_SETS,
    help="The JPEG qualities compared, one ELA each.",
)  # fmt: skip


@dataclass(frozen=True)
class GridCellResult:
    """One quality of the sweep: the rendering on the stored pixel grid and its numbers."""

    quality: int
    rendering: np.ndarray
    max_diff: int
    gain: float
    seconds: float


def parse_set(text: str) -> list[int]:
    return [int(token) for token in text.split(",")]


def closest_quality(qualities: list[int], estimated: int | None) -> int | None:
    """The grid quality nearest the file's own (ties go to the higher quality)."""
    if estimated is None or not qualities:
        return None
    return min(qualities, key=lambda q: (abs(q - estimated), -q))


class GridAnalysis:
    name = "grid"
    title = "Quality grid"
    help = (
        "ELA at several JPEG qualities. A region pasted from a photo saved at another quality "
        "than the rest goes dark in the cell near its own quality while the rest stays bright "
        "(and the other way round near the photo's quality): compare the same region across cells. "
        "The map shown is the cell closest to the file's own estimated quality. Failure mode: a "
        "photo re-saved at one quality after the edit erases the difference, so uniform cells "
        "prove nothing."
    )
    params = (QUALITIES, GAIN, GRAYSCALE)

    @staticmethod
    def cells(
        pixels: np.ndarray, qualities: Iterable[int], scale: ela_maths.Scale, grayscale: bool
    ) -> Iterator[GridCellResult]:
        """One ELA per quality, in order (the window's grid shows each as it comes)."""
        for quality in qualities:
            started = time.perf_counter()
            diff = ela_maths.ela_difference(pixels, quality)
            max_diff = int(diff.max()) if diff.size else 0
            rendering, gain = ela_maths.render(diff, scale, grayscale, max_diff)
            del diff  # one raw difference at a time: 12 MP x 3 bytes each
            yield GridCellResult(
                quality, rendering, max(max_diff, 1), gain, time.perf_counter() - started
            )

    def applies_to(self, image: LoadedImage) -> str | None:
        return None

    def run(
        self, image: LoadedImage, params: dict, progress: Progress, cancel: Cancelled
    ) -> AnalysisResult:
        qualities = parse_set(params["qualities"])
        jpeg = image.facts.jpeg
        estimated = None if jpeg is None or jpeg.quality is None else jpeg.quality.quality
        shown = closest_quality(qualities, estimated) or qualities[-1]
        renderings, cells = {}, []
        steps = self.cells(image.pixels, qualities, scale_of(params["gain"]), params["grayscale"])
        for index in range(len(qualities)):
            check_cancel(cancel)
            progress(index / len(qualities))
            result = next(steps)  # computed lazily: a cancel stops before the next JPEG round trip
            renderings[f"q{result.quality}"] = as_rgb(result.rendering)
            cells.append({"quality": result.quality, "max_diff": result.max_diff,
                          "gain": result.gain})  # fmt: skip
        progress(1.0)
        findings = jpeg_note(image)
        if estimated is not None:
            findings.append(Finding(f"The file's own quality is about {estimated}: map q{shown}."))
        return AnalysisResult(
            image=renderings[f"q{shown}"],
            findings=findings,
            data={"estimated_quality": estimated, "shown_quality": shown, "cells": cells},
            extra_images=renderings,
        )


register(GridAnalysis())
