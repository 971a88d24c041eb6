"""Command-line front end over the same functions the GUI uses.

``forensic-viewer`` alone (or with image paths) starts the GUI; subcommands work headless.
Errors are one line on stderr: exit 2 for bad input or usage, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .core.errors import ForensicError, OutputPathError
from .core.jsonout import dumps

SUBCOMMANDS = ("ela", "info", "predict", "train", "evaluate", "gui")


def fail(message: str, code: int = 2) -> int:
    print(f"forensic-viewer: error: {message}", file=sys.stderr)
    return code


def parse_scale(value: str) -> str | float:
    if value in ("auto", "percentile"):
        return value
    try:
        gain = float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            "--scale takes 'auto', 'percentile' or a positive number"
        ) from exc
    if not gain > 0:
        raise argparse.ArgumentTypeError("--scale gain must be positive")
    return gain


def quality_arg(value: str) -> int:
    try:
        quality = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("quality must be a whole number 1-100") from exc
    if not 1 <= quality <= 100:
        raise argparse.ArgumentTypeError("quality must be between 1 and 100")
    return quality


def cmd_ela(args: argparse.Namespace) -> int:
    from PIL import Image

    from .core import ela as ela_module
    from .core.images import load_image, pad_missing_rows

    source, out = Path(args.image), Path(args.output)
    try:
        _check_ela_output(source, out, args.force)
    except OSError as error:  # stat() itself failed: a name too long, a folder we cannot read
        raise OutputPathError(f"cannot write {out} ({error.strerror or error})") from None
    loaded = load_image(source)
    result = ela_module.ela(loaded.pixels, args.quality, scale=args.scale, grayscale=args.grayscale)
    # A cut-off file's ELA covers its decoded rows; the missing ones stay blank, not invented.
    rendering = pad_missing_rows(result.rendering, loaded.facts.height, hatch=False)
    try:
        _save_image(out, Image.fromarray(rendering))
    except OSError as error:
        raise OutputPathError(f"cannot write {out} ({error.strerror or error})") from None
    partial = loaded.facts.describe_decoded()
    print(
        f"{out}: ELA q={result.quality} max_diff={result.max_diff} gain={result.gain:.3f} "
        f"({result.seconds * 1000:.0f} ms)" + (f"; truncated file, {partial}" if partial else "")
    )
    return 0


def _check_ela_output(source: Path, out: Path, force: bool) -> None:
    """Every check on the output, before the (possibly long) work. An existing file is never
    replaced silently: it may be another piece of evidence."""
    from .core.atomic import check_name_lengths, check_writable, same_file

    check_name_lengths(out)
    if out.is_dir():
        raise OutputPathError(f"{out} is a folder; give a file name for the output")
    if out.exists() and same_file(source, out):
        raise OutputPathError(f"refusing to write over the input image {source}")
    if out.suffix.lower() not in (".png", ".tif", ".tiff", ".bmp"):
        raise OutputPathError(f"{out.name}: use a lossless format (.png, .tif or .bmp)")
    if (out.exists() or out.is_symlink()) and not force:
        raise OutputPathError(f"{out} exists (use --force to replace it)")
    check_writable(out)


def _save_image(out: Path, image) -> None:
    from .core.atomic import atomic_write_with

    atomic_write_with(out, lambda handle: image.save(handle, format=_pil_format(out)))


def _pil_format(path: Path) -> str:
    return {".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP"}[path.suffix.lower()]


def cmd_info(args: argparse.Namespace) -> int:
    from .core.images import load_image

    facts = load_image(args.image).facts
    if args.json:
        print(dumps(facts.as_dict(), indent=2))
        return 0
    rows = [
        ("File", str(facts.path)),
        ("Format", f"{facts.format} ({facts.mode})"),
        ("Size", f"{facts.width} x {facts.height} px, {facts.file_size:,} bytes"),
        ("SHA-256", facts.sha256),
    ]
    if facts.frames > 1:
        rows.append(("Frames", str(facts.frames)))
    if facts.truncated:
        rows.append(("Decoded", str(facts.describe_decoded())))
    rows += [("Embedded", item.describe()) for item in facts.embedded]
    if facts.jpeg is not None:
        quality = facts.jpeg.quality.describe() if facts.jpeg.quality else "unknown"
        rows += [
            ("JPEG quality", quality),
            ("Subsampling", facts.jpeg.subsampling),
            ("Progressive", "yes" if facts.jpeg.progressive else "no"),
        ]
    exif = facts.exif
    camera = " ".join(str(exif[k]) for k in ("camera_make", "camera_model") if exif.get(k))
    rows += [
        ("Camera", camera or "-"),
        ("Software", str(exif.get("software", "-"))),
        ("Captured", str(exif.get("captured", "-"))),
        ("Modified", str(exif.get("modified", "-"))),
        ("GPS", "present" if exif.get("gps_present") else "none"),
        ("Orientation", str(facts.orientation)),
    ]
    rows += [("Note", note) for note in facts.notes]
    rows += [("Warning", warning) for warning in facts.warnings]
    rows += [("Info", line) for line in facts.information]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


def has_display() -> bool:
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform.startswith(("offscreen", "minimal", "vnc")):
        return True
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def cmd_gui(args: argparse.Namespace) -> int:
    if not has_display():
        return fail(
            "no display found (DISPLAY/WAYLAND_DISPLAY unset); run on a desktop, under "
            "xvfb-run, or with QT_QPA_PLATFORM=offscreen for --screenshot",
            1,
        )
    from .ui.app import run_gui

    return run_gui(list(args.images), screenshot=args.screenshot, view=args.view)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forensic-viewer",
        description="Offline image forensics: Error Level Analysis and a CNN verdict. "
        "With no subcommand, opens the viewer on the given images.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the viewer (the default)")
    gui.add_argument("images", nargs="*", help="images or folders to open")
    gui.add_argument("--screenshot", metavar="OUT.png", help="save a window screenshot and exit")
    gui.add_argument(
        "--view",
        choices=("ela", "grid", "heatmap", *analysis_subcommands()),
        default="ela",
        help="the tab shown: ela, grid, heatmap (ELA with the network's heat) or an analysis",
    )
    gui.set_defaults(func=cmd_gui)

    p_ela = sub.add_parser("ela", help="write the ELA rendering of an image")
    p_ela.add_argument("image")
    p_ela.add_argument("--quality", "-q", type=quality_arg, default=90, help="JPEG quality (90)")
    p_ela.add_argument(
        "--scale",
        type=parse_scale,
        default="auto",
        help="'auto': the classic, exact 255/max_diff (default, as published); 'percentile': "
        "255 / the 99.5th percentile (brighter on camera photos, whose largest differences are "
        "a few outliers); or a fixed gain",
    )
    p_ela.add_argument("--grayscale", action="store_true", help="largest channel difference")
    p_ela.add_argument("-o", "--output", required=True, metavar="OUT.png")
    p_ela.add_argument("--force", action="store_true", help="replace OUT.png if it exists")
    p_ela.set_defaults(func=cmd_ela)

    p_info = sub.add_parser("info", help="file facts, JPEG quality estimate and EXIF summary")
    p_info.add_argument("image")
    p_info.add_argument("--json", action="store_true")
    p_info.set_defaults(func=cmd_info)

    for module_name in ("cli_predict", "cli_train", "cli_analyses"):
        try:
            module = __import__(f"forensic_viewer.{module_name}", fromlist=["register"])
        except ImportError:
            continue
        module.register(sub)
    return parser


def analysis_subcommands() -> list[str]:
    """Subcommands generated from the analysis registry (clone, grid, ...; see cli_analyses)."""
    from .cli_analyses import analysis_names

    return analysis_names()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):
        # File names that are not valid UTF-8 must print, not crash a strict-locale terminal.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="surrogateescape")
    # Bare image paths and GUI options (``--screenshot``) mean the default subcommand, gui.
    if not argv or argv[0] not in (
        *SUBCOMMANDS,
        *analysis_subcommands(),
        "-h",
        "--help",
        "--version",
    ):
        argv = ["gui", *argv]
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ForensicError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
