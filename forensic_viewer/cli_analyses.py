"""CLI subcommands generated from the analysis registry: ``forensic-viewer NAME IMG -o OUT.png``.

Each registered analysis (except ``ela``, which keeps its own historical subcommand) gets options
from its parameters (``--min-distance 30``; booleans as ``--grayscale/--no-grayscale``), writes its
rendering (map, mask overlay, match lines) losslessly, and with ``--json`` the result's numbers.
Outputs never replace the input image, nor an existing file without ``--force``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .core.errors import OutputPathError

KEPT_SUBCOMMANDS = ("ela",)
"""Registry names that keep an older, hand-written subcommand in cli.py."""
LOSSLESS = {".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP"}


def analysis_names() -> list[str]:
    """The generated subcommands, in registry order."""
    from .core.analyses import REGISTRY

    return [name for name in REGISTRY if name not in KEPT_SUBCOMMANDS]


def option(name: str) -> str:
    return "--" + name.replace("_", "-")


def register(subparsers: argparse._SubParsersAction) -> None:
    from .core.analyses import REGISTRY

    for name in analysis_names():
        analysis = REGISTRY[name]
        parser = subparsers.add_parser(
            name, help=f"write the {analysis.title} view of an image", description=analysis.help
        )
        parser.add_argument("image")
        parser.add_argument("-o", "--output", required=True, metavar="OUT.png")
        parser.add_argument(
            "--json", metavar="OUT.json", help="also write the result's numbers ('-': stdout)"
        )
        parser.add_argument(
            "--extras", action="store_true", help="also write extra images as OUT.NAME.png"
        )
        parser.add_argument("--force", action="store_true", help="replace existing outputs")
        for param in analysis.params:
            text = param.help or param.label
            if param.kind == "bool":
                parser.add_argument(
                    option(param.name), dest=param.name, action=argparse.BooleanOptionalAction,
                    default=None, help=f"{text} (default: {'on' if param.default else 'off'})",
                )  # fmt: skip
                continue
            bounds = ""
            if param.kind in ("int", "float") and param.minimum is not None:
                bounds = f", {param.minimum:g}..{param.maximum:g}" if param.maximum else ""
            parser.add_argument(
                option(param.name), dest=param.name, default=None, metavar=param.name.upper(),
                choices=param.choices or None,
                help=f"{text} (default: {param.default}{bounds})",
            )  # fmt: skip
        parser.set_defaults(func=run_command, analysis=name)


def check_output(path: Path, source: Path, force: bool, image: bool = True) -> None:
    """Every check on an output before the work (the same rules as ``ela -o``): never the input,
    never an existing file without ``force`` (it may be another piece of evidence)."""
    from .core.atomic import check_name_lengths, check_writable, same_file

    try:
        check_name_lengths(path)
        if path.is_dir():
            raise OutputPathError(f"{path} is a folder; give a file name for the output")
        if path.exists() and same_file(source, path):
            raise OutputPathError(f"refusing to write over the input image {source}")
        if image and path.suffix.lower() not in LOSSLESS:
            raise OutputPathError(f"{path.name}: use a lossless format (.png, .tif or .bmp)")
        if (path.exists() or path.is_symlink()) and not force:
            raise OutputPathError(f"{path} exists (use --force to replace it)")
        check_writable(path)
    except OSError as error:  # stat() itself failed: a name too long, a folder we cannot read
        raise OutputPathError(f"cannot write {path} ({error.strerror or error})") from None


def run_command(args: argparse.Namespace) -> int:
    from PIL import Image
    from tqdm import tqdm

    from .core.analyses import REGISTRY, resolve_params, run_analysis
    from .core.analyses.render import render_result
    from .core.atomic import atomic_write_text, atomic_write_with
    from .core.images import load_image, pad_missing_rows
    from .core.jsonout import dumps

    analysis = REGISTRY[args.analysis]
    source, out = Path(args.image), Path(args.output)
    check_output(out, source, args.force)
    json_path = None if args.json in (None, "-") else Path(args.json)
    if json_path is not None:
        check_output(json_path, source, args.force, image=False)
    given = {p.name: getattr(args, p.name) for p in analysis.params}
    try:
        params = resolve_params(analysis, {k: v for k, v in given.items() if v is not None})
    except ValueError as exc:
        return fail(
            f"{args.analysis}: {exc}" if not str(exc).startswith(args.analysis) else str(exc)
        )
    loaded = load_image(source)
    started = time.perf_counter()
    with tqdm(total=100, desc=analysis.title, unit="%", disable=not sys.stderr.isatty()) as bar:

        def progress(fraction: float) -> None:
            bar.update(max(0, round(fraction * 100) - bar.n))

        try:
            result = run_analysis(analysis, loaded, params, progress)
        except ValueError as exc:  # applies_to refused the image
            return fail(str(exc))
    seconds = time.perf_counter() - started
    extras = {}
    if args.extras:
        for key in result.extra_images:
            extras[key] = out.with_name(f"{out.stem}.{key}{out.suffix}")
            check_output(extras[key], source, args.force)
    height = loaded.facts.height  # a cut-off file's missing rows stay blank, not invented
    pictures = {out: render_result(result, loaded.pixels)}
    for key, path in extras.items():
        pictures[path] = render_result(type(result)(image=result.extra_images[key]), loaded.pixels)
    fmt = LOSSLESS[out.suffix.lower()]
    for path, picture in pictures.items():
        image = Image.fromarray(pad_missing_rows(picture, height, hatch=False))
        try:
            atomic_write_with(path, lambda handle, image=image: image.save(handle, format=fmt))
        except OSError as error:
            raise OutputPathError(f"cannot write {path} ({error.strerror or error})") from None
    report = {
        "analysis": analysis.name,
        "title": analysis.title,
        "image": str(source),
        "sha256": loaded.facts.sha256,
        "params": params,
        "seconds": round(seconds, 3),
        **result.as_dict(),
    }
    text = dumps(report, indent=2)
    if args.json == "-":
        print(text)
    elif json_path is not None:
        atomic_write_text(json_path, text + "\n")
    if args.json != "-":
        score = "" if result.score is None else f" score={result.score:g}"
        print(f"{out}: {analysis.title}{score} ({seconds * 1000:.0f} ms)")
        for finding in result.findings:
            print(f"  [{finding.severity}] {finding.text}")
    return 0


def fail(message: str) -> int:
    print(f"forensic-viewer: error: {message}", file=sys.stderr)
    return 2
