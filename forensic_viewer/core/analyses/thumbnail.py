"""Thumbnail and metadata: the EXIF thumbnail against the image, the full metadata tree (ExifTool,
else Pillow) and the inconsistencies in it (editor software, dates, editing history)."""

from __future__ import annotations

import numpy as np

from ..exiftool import read_metadata
from ..images import LoadedImage
from ..metadata_checks import date_issues, editor_names, has_photoshop_resources, history_actions
from ..thumbnail import decode_thumbnail, difference_map, exif_thumbnail_bytes, match_thumbnail
from . import register
from .base import AnalysisResult, Cancelled, Finding, Progress, check_cancel

# Set on the 61 camera originals named *.jpg with a thumbnail (../shared/datasets/camera-originals):
# mean largest-channel difference at most 17.0 and 98th percentile at most 53.0, except one camera
# (Panasonic DMC-LC70, 84.1 / 187.6) whose thumbnail shows another framing. Over all 91 originals
# with a thumbnail (bench/bench_analyses.py --only thumbnails) these limits flag 3 (that one and two
# HP PhotoSmart 43x files, 30.3 / 122-124): false alarms on untouched files.
MISMATCH_MEAN = 25.0
MISMATCH_LOCAL = 90.0
MAP_FULL_SCALE = 64.0  # a difference of 64 levels shows at full brightness


def _difference_rgb(difference: np.ndarray) -> np.ndarray:
    gray = np.clip(difference * 4.0, 0, 255).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


class ThumbnailAnalysis:
    name = "thumbnail"
    title = "Thumbnail & metadata"
    help = (
        "The small preview the camera stored in the EXIF block, compared with the image brought "
        "to its size: bright areas differ. Editors that do not rewrite the thumbnail keep the "
        "scene as shot in it, so a changed region lights up. Below it, the full metadata "
        "(ExifTool when installed) with editor software, dates that disagree and editing "
        "history flagged. Failure modes: many editors, phones and web services rewrite or drop "
        "the thumbnail and metadata, so a match or a clean record proves nothing; a few cameras "
        "store a thumbnail framed differently from the image (a false mismatch)."
    )
    params = ()

    def applies_to(self, image: LoadedImage) -> str | None:
        return None  # every file has metadata, even when it is empty

    def run(
        self, image: LoadedImage, params: dict, progress: Progress, cancel: Cancelled
    ) -> AnalysisResult:
        findings: list[Finding] = []
        check_cancel(cancel)
        tree = read_metadata(image.facts.path, image.facts.exif)
        progress(0.4)
        check_cancel(cancel)
        thumb_bytes = exif_thumbnail_bytes(image.facts.path)
        thumbnail = None if thumb_bytes is None else decode_thumbnail(thumb_bytes)
        shown, cell, score, thumb_data, extra = None, 1, None, {"present": False}, {}
        if thumb_bytes is not None and thumbnail is None:
            findings.append(Finding("The EXIF thumbnail does not decode.", "notice"))
        elif thumbnail is not None:
            match = match_thumbnail(image.pixels, thumbnail)
            mismatch = (
                match.mean_difference > MISMATCH_MEAN or match.local_difference > MISMATCH_LOCAL
            )
            level, cell = difference_map(match, *image.pixels.shape[:2])
            shown = np.clip(level / MAP_FULL_SCALE, 0.0, 1.0).astype(np.float32)
            score = round(match.mean_difference, 4)
            thumb_data = {
                "present": True,
                "width": int(thumbnail.shape[1]),
                "height": int(thumbnail.shape[0]),
                "fit": match.fit,
                "quarter_turns": match.rotation,
                "mean_difference": round(match.mean_difference, 4),
                "local_difference": round(match.local_difference, 4),
                "mismatch": bool(mismatch),
            }
            extra = {
                "thumbnail": thumbnail,
                "image at thumbnail size": match.resized,
                "difference": _difference_rgb(match.difference),
            }
            if mismatch:
                findings.append(
                    Finding(
                        f"The EXIF thumbnail does not match the image (mean difference "
                        f"{match.mean_difference:.1f}, locally {match.local_difference:.0f} of "
                        "255): the picture changed after the thumbnail was written.",
                        "warning",
                    )
                )
            else:
                findings.append(Finding(f"The EXIF thumbnail matches the image ({match.fit} fit)."))
            if match.rotation:
                findings.append(
                    Finding("The thumbnail is turned relative to the stored image.", "notice")
                )
        else:
            findings.append(Finding("No EXIF thumbnail."))
        progress(0.8)
        editors = editor_names(tree)
        for entry in editors:
            findings.append(Finding(f"Editor software: {entry}", "warning"))
        if has_photoshop_resources(tree):
            findings.append(Finding("Photoshop image resources or XMP are present.", "notice"))
        history = history_actions(tree)
        if history:
            findings.append(Finding(f"XMP editing history: {', '.join(history[:8])}.", "notice"))
        dates = date_issues(tree)
        for issue in dates:
            findings.append(Finding(f"Dates disagree: {issue}.", "notice"))
        camera_groups = ("IFD0", "ExifIFD", "XMP-xmp", "IFD1")
        if not any(tree.groups.get(g) for g in camera_groups) and (
            tree.source == "exiftool" or not image.facts.exif
        ):
            findings.append(Finding("No EXIF or XMP camera metadata."))
        findings.append(Finding(f"Metadata from {tree.note}."))
        progress(1.0)
        return AnalysisResult(
            image=shown,
            cell=cell,
            score=score,
            findings=findings,
            data={
                "score_meaning": "mean largest-channel difference (0-255) between the EXIF "
                "thumbnail and the image at its size; null without a thumbnail",
                "thumbnail": thumb_data,
                "editor_software": editors,
                "date_issues": dates,
                "history": history,
                "metadata": tree.as_dict(),
            },
            extra_images=extra,
        )


register(ThumbnailAnalysis())
