"""Error Level Analysis as a registered analysis: a thin wrapper over the exact ``core.ela``."""

from __future__ import annotations

import numpy as np

from .. import ela as ela_maths
from ..images import LoadedImage
from . import register
from .base import AnalysisResult, Cancelled, Finding, Param, Progress, check_cancel

QUALITY = Param(
    "quality", "JPEG quality", "int", ela_maths.CLASSIC_QUALITY, 1, 100,
    help="Quality of the re-save the image is compared with (classic recipe: 90).",
)  # fmt: skip
GAIN = Param(
    "gain", "Brightness gain", "float", 0.0, 0.0, 1000.0,
    help="0 = auto (255 / largest difference, the classic recipe); else a fixed gain.",
)  # fmt: skip
GRAYSCALE = Param(
    "grayscale", "Grayscale", "bool", False,
    help="Show the largest of the three channel differences.",
)  # fmt: skip


def scale_of(gain: float) -> ela_maths.Scale:
    """The ``scale`` argument of ``core.ela`` for a gain parameter (0 means auto)."""
    return "auto" if gain <= 0 else float(gain)


def as_rgb(rendering: np.ndarray) -> np.ndarray:
    """A grayscale rendering (H x W) as H x W x 3, the protocol's colour image type."""
    return rendering if rendering.ndim == 3 else np.repeat(rendering[:, :, None], 3, axis=2)


def jpeg_note(image: LoadedImage) -> list[Finding]:
    """ELA reads JPEG compression history; on other formats it mostly shows edges and texture."""
    if image.facts.format == "JPEG":
        return []
    return [
        Finding(
            f"Not a JPEG ({image.facts.format or 'unknown format'}): the error level shows "
            "texture and edges, not compression history.",
            "notice",
        )
    ]


class ElaAnalysis:
    name = "ela"
    title = "ELA"
    help = (
        "Error Level Analysis re-saves the image as a JPEG at the chosen quality and shows how "
        "much each pixel changed, brightened so the largest change is white. Parts saved fewer "
        "times, or at another quality, than the rest change more and look brighter. Read it by "
        "comparing similar surfaces: edges, fine texture and saturated colours are always bright, "
        "and a photo re-saved many times, resized or heavily compressed shows a uniform darkness "
        "that hides edits (a failure mode: a clean ELA is not proof of authenticity)."
    )
    params = (QUALITY, GAIN, GRAYSCALE)

    def applies_to(self, image: LoadedImage) -> str | None:
        return None

    def run(
        self, image: LoadedImage, params: dict, progress: Progress, cancel: Cancelled
    ) -> AnalysisResult:
        check_cancel(cancel)
        progress(0.0)
        result = ela_maths.ela(
            image.pixels,
            params["quality"],
            scale=scale_of(params["gain"]),
            grayscale=params["grayscale"],
        )
        progress(1.0)
        return AnalysisResult(
            image=as_rgb(result.rendering),
            findings=jpeg_note(image),
            data={
                "quality": result.quality,
                "max_diff": result.max_diff,
                "gain": result.gain,
                "grayscale": bool(params["grayscale"]),
            },
        )


register(ElaAnalysis())
