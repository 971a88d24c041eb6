"""Exports: ELA rendering (full-resolution PNG), quality grid (PNG) and a JSON report.

Every write is atomic (core.atomic). The evidence is never overwritten, and nothing is written in
an evidence file's own folder: an investigator's case folder stays exactly as it was received.
No Qt here, so the CLI can reuse these functions.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from forensic_viewer import __version__ as APP_VERSION
from forensic_viewer.core.atomic import atomic_write_text, atomic_write_with, same_file
from forensic_viewer.core.errors import OutputPathError
from forensic_viewer.core.images import sha256_file
from forensic_viewer.core.jsonout import dumps

from ..viewer.document import Document, ElaSettings

REPORT_SCHEMA = "forensic-viewer.report/1"
HIGHLIGHT = (255, 170, 0)
LABEL_HEIGHT = 28


@dataclass(frozen=True)
class GridCell:
    """One quality of the grid: a display-oriented rendering, maybe reduced by ``downsample``."""

    quality: int
    rendering: np.ndarray
    gain: float
    max_diff: int
    seconds: float
    downsample: int = 1


def check_output_path(output: str | Path, evidence: Iterable[str | Path]) -> Path:
    """Refuse an output that is an evidence file or sits in an evidence file's folder."""
    output = Path(output).absolute()
    evidence = [Path(item) for item in evidence]
    for item in evidence:
        if output == item.absolute() or (output.exists() and same_file(output, item)):
            raise OutputPathError(f"{output.name}: refusing to overwrite the evidence file")
    for item in evidence:
        if (
            output.parent.is_dir()
            and item.parent.is_dir()
            and same_file(output.parent, item.parent)
        ):
            raise OutputPathError(
                f"{output.name}: refusing to write into the evidence folder {item.parent}; "
                "choose another folder so the evidence folder stays untouched"
            )
    return output


def default_name(doc: Document, kind: str, settings: ElaSettings | None = None) -> str:
    stem = doc.path.stem
    if kind == "ela":
        quality = settings.quality if settings else 90
        return f"{stem}.ela-q{quality}.png"
    if kind == "grid":
        return f"{stem}.ela-grid.png"
    return f"{stem}.report.json"


def _save_png(output: Path, array: np.ndarray) -> None:
    image = Image.fromarray(np.ascontiguousarray(array))
    atomic_write_with(output, lambda handle: image.save(handle, "PNG", compress_level=6))


def export_ela_png(
    output: str | Path, rendering: np.ndarray, evidence: Iterable[str | Path]
) -> Path:
    """The ELA rendering exactly as computed, full resolution, display orientation."""
    output = check_output_path(output, evidence)
    _save_png(output, rendering)
    return output


def compose_grid(
    cells: Sequence[GridCell], highlight: int | None = None, columns: int = 3
) -> np.ndarray:
    """A labelled mosaic of the grid cells; the cell of quality ``highlight`` gets a frame."""
    if not cells:
        raise ValueError("the quality grid has no cells yet")
    rgb = [
        c.rendering if c.rendering.ndim == 3 else np.repeat(c.rendering[..., None], 3, 2)
        for c in cells
    ]
    height, width = rgb[0].shape[:2]
    columns = max(1, min(columns, len(cells)))
    rows = -(-len(cells) // columns)
    gap = 4
    cell_h = height + LABEL_HEIGHT
    mosaic = np.full(
        (rows * cell_h + (rows + 1) * gap, columns * width + (columns + 1) * gap, 3), 32, np.uint8
    )
    canvas = Image.fromarray(mosaic)
    draw = ImageDraw.Draw(canvas)
    font = _font(16)
    for index, (cell, array) in enumerate(zip(cells, rgb, strict=True)):
        row, column = divmod(index, columns)
        x = gap + column * (width + gap)
        y = gap + row * (cell_h + gap)
        canvas.paste(Image.fromarray(np.ascontiguousarray(array)), (x, y + LABEL_HEIGHT))
        marked = highlight is not None and cell.quality == highlight
        label = f"q {cell.quality}   gain x{cell.gain:.1f}" + (
            "   (file's quality)" if marked else ""
        )
        colour = HIGHLIGHT if marked else (230, 230, 230)
        draw.text((x + 6, y + 5), label, fill=colour, font=font)
        if marked:
            draw.rectangle(
                [x - 2, y - 2, x + width + 1, y + cell_h + 1], outline=HIGHLIGHT, width=3
            )
    return np.asarray(canvas)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def export_grid_png(
    output: str | Path,
    cells: Sequence[GridCell],
    evidence: Iterable[str | Path],
    highlight: int | None = None,
) -> Path:
    output = check_output_path(output, evidence)
    _save_png(output, compose_grid(cells, highlight))
    return output


def build_report(
    doc: Document,
    settings: ElaSettings,
    max_diff: int | None = None,
    gain: float | None = None,
    seconds: float | None = None,
    grid: Sequence[GridCell] | None = None,
    verdict: dict | None = None,
    analyses: dict | None = None,
) -> dict:
    """The JSON report. ``verdict`` is the network's block (None until a model has run);
    ``analyses`` is {registry name: block} (see :func:`analysis_block`)."""
    current_sha = sha256_file(doc.path) if doc.path.exists() else None
    if verdict is None and doc.verdict is not None:
        verdict = doc.verdict.as_dict()
    if gain is None and not settings.auto_brightness:
        gain = settings.gain
    report = {
        "schema": REPORT_SCHEMA,
        "tool": {"name": "forensic-viewer", "version": APP_VERSION},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "file": doc.facts.as_dict(),
        "integrity": {
            "sha256_when_opened": doc.facts.sha256,
            "sha256_at_export": current_sha,
            "unchanged": current_sha == doc.facts.sha256,
        },
        "ela": {
            "quality": settings.quality,
            "brightness": settings.brightness_text() if settings.auto_brightness else "manual",
            "gain": gain,
            "max_diff": max_diff,
            "grayscale": settings.grayscale,
            "seconds": None if seconds is None else round(seconds, 4),
            "orientation_applied_for_display": doc.facts.orientation != 1,
            "recipe": "classic: |original - JPEG(original, quality)| x gain, Pillow-exact",
        },
        "verdict": verdict,
    }
    if grid:
        report["quality_grid"] = [
            {"quality": c.quality, "gain": c.gain, "max_diff": c.max_diff} for c in grid
        ]
        estimated = doc.estimated_quality
        report["quality_grid_estimated_quality"] = estimated
    if analyses:
        report["analyses"] = analyses
    return report


def file_part(name: str) -> str:
    """A registry or extra-image name as part of a file name ('at size' -> 'at-size')."""
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in name.strip().lower())
    return "-".join(part for part in cleaned.split("-") if part) or "image"


def analysis_png_names(stem: str, name: str, extras: Iterable[str] = ()) -> dict[str, str]:
    """File names of one analysis's pictures: {'': main, extra name: ...}."""
    names = {"": f"{stem}.{file_part(name)}.png"}
    for extra in extras:
        names[extra] = f"{stem}.{file_part(name)}.{file_part(extra)}.png"
    return names


def analysis_block(
    title: str, report: dict | None, reason: str | None, files: dict[str, str] | None = None
) -> dict:
    """One analysis in the report: its numbers, or why it does not apply, and its PNG names."""
    block: dict = {"title": title, "applies": reason is None, "reason": reason}
    if report is not None:
        block.update(report)
    if files is not None:  # written: the picture's name, or None when there is no map
        block["png"] = files.get("")
        block["extra_pngs"] = {k: v for k, v in files.items() if k}
    return block


def export_analysis_pngs(
    folder: str | Path,
    stem: str,
    name: str,
    picture: np.ndarray | None,
    extras: dict[str, np.ndarray],
    evidence: Iterable[str | Path],
) -> dict[str, str]:
    """Write an analysis's picture (as shown; None: no map) and its extra images; returns their
    file names ('' for the picture)."""
    evidence = list(evidence)
    names = analysis_png_names(stem, name, extras)
    if picture is None:
        del names[""]
    for key, file_name in names.items():
        output = check_output_path(Path(folder) / file_name, evidence)
        _save_png(output, picture if key == "" else extras[key])
    return names


def write_report(output: str | Path, report: dict, evidence: Iterable[str | Path]) -> Path:
    output = check_output_path(output, evidence)
    text = dumps(report, indent=2, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # a file name that is not valid UTF-8 (Linux names are bytes) holds surrogate escapes;
        # as \udcXX escapes the JSON stays valid and json.loads gives the exact name back
        text = dumps(report, indent=2, ensure_ascii=True)
    atomic_write_text(output, text + "\n")
    return output


def evidence_paths(documents: Iterable[Document]) -> list[Path]:
    return [doc.path for doc in documents]


def suggest_export_dir(last_dir: str, documents: Iterable[Document]) -> str:
    """Last export folder unless it holds evidence; else the user's home (never evidence's)."""
    evidence_dirs = {str(d.path.parent.absolute()) for d in documents}
    if last_dir and str(Path(last_dir).absolute()) not in evidence_dirs:
        return last_dir
    home = Path.home()
    pictures = home / "Pictures"
    candidate = pictures if pictures.is_dir() else home
    return os.fspath(candidate) if str(candidate) not in evidence_dirs else os.fspath(home.parent)
