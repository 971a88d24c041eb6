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
AUTO_SCALE = Param(
    "auto_scale", "Auto brightness", "choice", "classic", choices=("classic", "percentile"),
    help="With gain 0: 'classic' = 255 / largest difference (the exact recipe); 'percentile' = "
    "255 / 99.5th percentile (the window's default: camera photos are not left nearly black).",
)  # fmt: skip
GRAYSCALE = Param(
    "grayscale", "Grayscale", "bool", False,
    help="Show the largest of the three channel differences.",
)  # fmt: skip


def scale_of(gain: float, auto_scale: str = "classic") -> ela_maths.Scale:
    """The ``scale`` argument of ``core.ela`` for a gain parameter (0 means auto)."""
    if gain > 0:
        return float(gain)
    return "percentile" if auto_scale == "percentile" else "auto"


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
    params = (QUALITY, GAIN, GRAYSCALE, AUTO_SCALE)

    # The window's ELA tab calls these two steps itself: it keeps the raw difference so a
    # brightness change skips the JPEG round trip, and shows it under the mouse.
    @staticmethod
    def difference(pixels: np.ndarray, quality: int) -> np.ndarray:
        """|pixels - JPEG(pixels, quality)| per channel (the exact recipe of ``core.ela``)."""
        return ela_maths.ela_difference(pixels, quality)

    @staticmethod
    def render(
        diff: np.ndarray, scale: ela_maths.Scale, grayscale: bool, max_diff: int | None = None
    ) -> tuple[np.ndarray, float]:
        """(rendering, gain) of a raw difference, as ``core.ela.render``."""
        return ela_maths.render(diff, scale, grayscale, max_diff)

    def applies_to(self, image: LoadedImage) -> str | None:
        return None

    def run(
        self, image: LoadedImage, params: dict, progress: Progress, cancel: Cancelled
    ) -> AnalysisResult:
        check_cancel(cancel)
        progress(0.0)
        diff = self.difference(image.pixels, params["quality"])
        max_diff = int(diff.max()) if diff.size else 0
        scale = scale_of(params["gain"], params["auto_scale"])
        rendering, gain = self.render(diff, scale, params["grayscale"], max_diff)
        progress(1.0)
        return AnalysisResult(
            image=as_rgb(rendering),
            findings=jpeg_note(image),
            data={
                "quality": int(params["quality"]),
                "max_diff": max(max_diff, 1),
                "gain": gain,
                "grayscale": bool(params["grayscale"]),
                "scale": "manual" if params["gain"] > 0 else params["auto_scale"],
            },
        )


register(ElaAnalysis())
