"""``forensic-viewer predict PATH... [--model M] [--json|--csv] [--recursive]``.

One row per image on stdout; a file that cannot be analysed gets an error row and does not stop
the run. Exit 0 when every file was analysed, 1 when some failed, 2 for bad usage or a model that
cannot be used (one line on stderr). torch is imported only when the command runs, so the rest of
the CLI starts fast.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from .core.images import is_image_path
from .core.jsonout import dumps

PROGRESS_MIN_FILES = 5
"""Below this many files the progress bar would only flicker."""
JSON_FIELDS = ("path", "p_tampered", "label", "ms", "model")
CSV_FIELDS = (*JSON_FIELDS, "error")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "predict",
        help="CNN verdict (P(tampered)) for images or folders",
        description="Predict P(tampered) for each image with a model (default: the shipped "
        "model). Folders are searched for images; errors are reported per file. Exit status: "
        "0 all files analysed, 1 some failed, 2 bad usage or unusable model.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    parser.add_argument(
        "--model",
        metavar="M",
        help="model file (NAME.safetensors) or the name of an installed model",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="one JSON array on stdout")
    output.add_argument("--csv", action="store_true", help="CSV with a header row on stdout")
    parser.add_argument(
        "--recursive", "-r", action="store_true", help="search folders and their subfolders"
    )
    parser.set_defaults(func=cmd_predict)
    return parser


def fail(message: str) -> int:
    print(f"forensic-viewer: error: {message}", file=sys.stderr)
    return 2


def collect_files(paths: Iterable[str | Path], recursive: bool) -> list[Path]:
    """Files named directly (whatever their suffix) and images found in folders, in order.

    A path that does not exist is kept, so it gets an error row like any unreadable file.
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for given in map(Path, paths):
        if given.is_dir():
            walk = given.rglob("*") if recursive else given.iterdir()
            candidates = sorted(
                p for p in walk if p.is_file() and is_image_path(p) and not p.name.startswith(".")
            )
        else:
            candidates = [given]
        for candidate in candidates:
            key = candidate.absolute()
            if key not in seen:
                seen.add(key)
                found.append(candidate)
    return found


def _row(item) -> dict:
    """The JSON object for one file: exactly the documented keys."""
    if item.error is not None:
        return {"path": str(item.path), "error": item.error}
    prediction = item.prediction
    return {
        "path": str(item.path),
        "p_tampered": round(prediction.p_tampered, 6),
        "label": prediction.label,
        "ms": round(prediction.ms, 1),
        "model": prediction.model_name,
    }


def csv_text(value: object) -> str:
    """A CSV cell that is valid UTF-8: a file name that is not (Linux names are bytes) holds
    surrogate escapes, written as ``\\udcXX`` exactly as the JSON output writes them."""
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


def _text_line(row: dict) -> str:
    if "error" in row:
        # The error sentence starts with the file's name; the row already shows the path.
        reason = row["error"].removeprefix(Path(row["path"]).name + ": ")
        return f"{'error':<9}  {'':>7}  {'':>9}  {row['path']}: {reason}"
    return f"{row['label']:<9}  {row['p_tampered']:7.1%}  {row['ms']:6.0f} ms  {row['path']}"


def cmd_predict(args: argparse.Namespace) -> int:
    try:
        return _predict(args)
    except KeyboardInterrupt:
        print("forensic-viewer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the flush at exit
        return 1
    except Exception as error:  # the CLI promises one line, never a traceback
        return fail(f"unexpected {type(error).__name__}: {error}")


def _predict(args: argparse.Namespace) -> int:
    files = collect_files(args.paths, args.recursive)
    if not files:
        where = ", ".join(args.paths)
        hint = "" if args.recursive else " (use --recursive to search subfolders)"
        return fail(f"no image files found in {where}{hint}")

    from .ml.modelfile import ModelFileError, default_model_path, resolve_model

    try:
        model_path = resolve_model(args.model) if args.model else default_model_path()
        if model_path is None:
            return fail(
                "no model available: no default model is installed; pass --model NAME.safetensors "
                "or train one with 'forensic-viewer train'"
            )
        from .ml.batch import predict_paths
        from .ml.predict import Predictor

        predictor = Predictor(model_path)
    except ModelFileError as error:
        return fail(f"cannot use the model: {error}")

    from tqdm import tqdm

    progress = tqdm(
        total=len(files),
        file=sys.stderr,
        unit="image",
        disable=len(files) < PROGRESS_MIN_FILES,
        dynamic_ncols=True,
    )
    rows: list[dict] = []
    writer = None
    if args.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
    failed = tampered = 0
    with progress:
        for item in predict_paths(files, predictor):
            row = _row(item)
            failed += item.error is not None
            tampered += row.get("label") == "tampered"
            if args.json:
                rows.append(row)
            elif writer is not None:
                writer.writerow({key: csv_text(value) for key, value in row.items()})
            else:
                progress.write(_text_line(row), file=sys.stdout)
            progress.update(1)
    if args.json:
        sys.stdout.write(dumps(rows, indent=1))
        sys.stdout.write("\n")
    sys.stdout.flush()
    analysed = len(files) - failed
    print(
        f"{len(files)} file(s): {tampered} tampered, {analysed - tampered} authentic, "
        f"{failed} failed (model {predictor.name}, threshold {predictor.threshold:g})",
        file=sys.stderr,
    )
    return 1 if failed else 0
