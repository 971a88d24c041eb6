"""Double-compression map (A-DJPG and NA-DJPG) from the file's own DCT coefficients; the maths is
in ``core.dq_maps`` (Bianchi & Piva 2012, with the simplifications documented there)."""

from __future__ import annotations

import numpy as np

from ..dq_maps import aligned_map, clipped_blocks, non_aligned_map
from ..images import LoadedImage
from ..jpeg_dct import luma_plane, read_luma
from . import register
from .base import AnalysisResult, Cancelled, Finding, Param, Progress, check_cancel

MODES = Param(
    "modes", "DCT modes", "int", 6, minimum=1, maximum=15,
    help="How many low-frequency DCT modes (zigzag order, DC first) are modelled.",
)  # fmt: skip
WINDOW = Param(
    "window", "Neighbourhood", "int", 3, minimum=1, maximum=9,
    help="Blocks per side whose evidence is pooled for each block (1: block by block, as in "
    "Bianchi & Piva; 3: each block with its 8 neighbours).",
)  # fmt: skip
SHOW = Param(
    "show", "Show", "choice", "aligned", choices=("aligned", "non-aligned"),
    help="aligned: P(compressed twice on this 8x8 grid); non-aligned: P(compressed before on a "
    "shifted grid).",
)  # fmt: skip
SUSPECT_BELOW = 0.5


def _summary(probability: np.ndarray) -> dict:
    return {
        "mean": round(float(probability.mean()), 6),
        "share_above_half": round(float((probability > SUSPECT_BELOW).mean()), 6),
    }


class DoubleJpegAnalysis:
    name = "dq"
    title = "Double compression"
    help = (
        "Per 8x8 block, the probability that it was JPEG-compressed twice: on the current grid "
        "(aligned) or on a shifted one (non-aligned), from the file's own quantized DCT "
        "coefficients (Bianchi & Piva 2012). A photo edited and re-saved is double compressed "
        "almost everywhere (bright); a region pasted from another picture usually lost that trace "
        "and reads dark. Failure modes: nothing is detectable when the first save was at a higher "
        "quality than the last (or at the same), when the photo was resized or filtered after the "
        "first save, or in flat or saturated areas (few non-zero coefficients); a dark map over "
        "the whole image just means a single compression."
    )
    params = (MODES, WINDOW, SHOW)

    def applies_to(self, image: LoadedImage) -> str | None:
        if image.facts.format != "JPEG":
            return "not a JPEG (the map reads the file's own DCT coefficients)"
        if image.facts.mode == "CMYK":
            return "a CMYK JPEG (the model needs a luminance channel)"
        if min(image.facts.width, image.facts.height) < 32:
            return "smaller than 32 pixels (too few 8x8 blocks for the statistics)"
        return None

    def run(
        self, image: LoadedImage, params: dict, progress: Progress, cancel: Cancelled
    ) -> AnalysisResult:
        check_cancel(cancel)
        luma = read_luma(image.facts.path)
        plane = luma_plane(luma)
        progress(0.1)
        check_cancel(cancel)
        modes = int(params["modes"])
        unreliable = clipped_blocks(image.pixels, luma.coefficients.shape[:2])
        window = int(params["window"])
        aligned = aligned_map(luma, plane, modes, unreliable, cancel, window)
        check_cancel(cancel)
        progress(0.5)
        na = non_aligned_map(luma, plane, modes, unreliable, cancel, window)
        check_cancel(cancel)
        informative = [fit for fit in aligned.modes if fit.informative]
        findings = []
        if informative:
            pairs = ", ".join(f"{fit.q2}<-{fit.q1}" for fit in informative)
            findings.append(
                Finding(
                    f"Aligned double compression: the coefficient histograms fit a first save with "
                    f"other steps (last<-first: {pairs}); {aligned.prior:.0%} of blocks fit it.",
                    "notice",
                )
            )
            dark = float((aligned.probability < SUSPECT_BELOW).mean())
            if 0.0 < dark < 0.5:
                findings.append(
                    Finding(
                        f"{dark:.0%} of blocks do not show the double compression the rest shows: "
                        "candidates for a pasted region (dark in the aligned map).",
                        "warning" if dark >= 0.01 else "notice",
                    )
                )
        else:
            findings.append(
                Finding(
                    "No aligned double compression found: a single save, a first save at a higher "
                    "quality than the last, or the image was resized in between."
                )
            )
        if na.detected:
            findings.append(
                Finding(
                    f"Non-aligned double compression: an earlier JPEG grid shifted by "
                    f"({na.shift[1]}, {na.shift[0]}) px (x, y); bright blocks in the non-aligned "
                    "map carry it (a cropped photo, or a region pasted from another JPEG).",
                    "warning",
                )
            )
        shown = aligned.probability if params["show"] == "aligned" else na.probability
        progress(1.0)
        return AnalysisResult(
            image=np.ascontiguousarray(shown, dtype=np.float32),
            cell=8,
            score=round(float(aligned.probability.mean()), 6),
            findings=findings,
            data={
                "score_meaning": "mean per-block probability of aligned double compression",
                "quantization_table": luma.table.tolist(),
                "aligned": {
                    **_summary(aligned.probability),
                    "prior": round(aligned.prior, 6),
                    "modes": [fit.as_dict() for fit in aligned.modes],
                },
                "non_aligned": {
                    **_summary(na.probability),
                    "detected": na.detected,
                    "shift_rows_cols": list(na.shift),
                    "strength_z": na.strength,
                    "modes": na.modes,
                },
            },
        )


register(DoubleJpegAnalysis())
