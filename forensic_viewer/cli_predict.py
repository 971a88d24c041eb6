"""``forensic-viewer predict PATH... [--model M] [--json|--csv|--out R.jsonl] [--recursive]``.

One row per image on stdout; a file that cannot be analysed gets an error row and does not stop
the run. With ``--out results.jsonl`` each row is appended to that file as soon as it exists
(core/resultlog.py), keyed by the file's SHA-256 and path, so ``--resume`` after a crash or a
kill skips what is done, and nothing but counters is kept in memory. ``--ray [ADDRESS]`` runs the
same scoring on a Ray cluster (ml/cluster.py, the optional ``cluster`` extra). Exit 0 when
every file was analysed, 1 when some failed, 2 for bad usage or a model that cannot be used
(one line on stderr). torch is imported only when the command runs, so the rest of the CLI
starts fast.
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
from .ml.verdict import STATES, format_p_and_threshold

PROGRESS_MIN_FILES = 5
"""Below this many files the progress bar would only flicker."""
JSON_FIELDS = ("path", "sha256", "verdict", "reason", "p_tampered", "threshold", "model", "ms")
"""``verdict``: tampered | no_trace | inconclusive (ml.verdict). ``p_tampered`` and ``ms`` are
null when the network did not run (inconclusive: the reason says why)."""
CSV_FIELDS = (*JSON_FIELDS, "error")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "predict",
        help="CNN verdict (tampered / no trace found / inconclusive) for images or folders",
        description="A verdict for each image with a model (default: the shipped model): "
        "'tampered' when P(tampered) reaches the model's threshold, 'no_trace' below it (no "
        "evidence found, not proof of authenticity), 'inconclusive' with a reason when the file "
        "lacks the evidence (not a JPEG, too small, nothing to compare) or is outside what the "
        "model was validated on (then the model is not run). Folders are searched for images; "
        "errors are reported per file. Exit status: 0 all files analysed, 1 some failed, 2 bad "
        "usage or unusable model.",
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
    output.add_argument(
        "--out",
        metavar="R.jsonl",
        help="append one JSON line per image to this file as soon as it is scored (streaming, "
        "resumable); only a summary goes to the terminal",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="with --out: keep the rows already in the file and skip those files (same SHA-256 "
        "and path)",
    )
    parser.add_argument(
        "--force", action="store_true", help="with --out: replace an existing results file"
    )
    parser.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="score on a Ray cluster (needs 'pip install forensic-viewer[cluster]'); without an "
        "address a local Ray instance is started; needs --out",
    )
    parser.add_argument(
        "--ray-workers",
        type=int,
        default=None,
        metavar="N",
        help="with --ray: model actors (default: one per 2 CPUs of the cluster)",
    )
    parser.add_argument(
        "--recursive", "-r", action="store_true", help="search folders and their subfolders"
    )
    parser.add_argument(
        "--maps",
        metavar="DIR",
        help="also write each image's tamper map to DIR as an 8-bit grayscale PNG at the "
        "image's size (255 = P(tampered) 1); never overwrites, never beside the inputs",
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
    return item.as_row()


def csv_text(value: object) -> str:
    """A CSV cell that is valid UTF-8: a file name that is not (Linux names are bytes) holds
    surrogate escapes, written as ``\\udcXX`` exactly as the JSON output writes them."""
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


def _text_line(row: dict) -> str:
    """'tampered      P 0.47 >= 0.42  1234 ms  PATH' (P is never printed as a percentage, which
    would read as a confidence in the label); inconclusive rows end with their reason."""
    if "error" in row:
        # The error sentence starts with the file's name; the row already shows the path.
        reason = row["error"].removeprefix(Path(row["path"]).name + ": ")
        return f"{'error':<12}  {'':>16}  {'':>7}  {row['path']}: {reason}"
    if row["p_tampered"] is None:
        return f"{row['verdict']:<12}  {'':>16}  {'':>7}  {row['path']}: {row['reason']}"
    p, threshold = format_p_and_threshold(row["p_tampered"], row["threshold"])
    sign = ">=" if row["p_tampered"] >= row["threshold"] else "<"
    numbers = f"P {p} {sign} {threshold}"
    return f"{row['verdict']:<12}  {numbers:>16}  {row['ms']:4.0f} ms  {row['path']}"


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
    if (args.resume or args.ray or args.force) and not args.out:
        return fail("--resume, --force and --ray need --out RESULTS.jsonl")
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
        from .ml.architectures import make_predictor
        from .ml.triage import triage_paths

        # Ray actors load their own copy; the driver only checks the file when it is local.
        predictor = None if args.ray else make_predictor(model_path)
    except ModelFileError as error:
        return fail(f"cannot use the model: {error}")
    on_result = None
    if args.maps:
        if args.ray:
            return fail("--maps is not available with --ray: write maps on one machine")
        from .cli_maps import plan_maps, write_map

        maps, problem = plan_maps(args.maps, files)
        if problem:
            return fail(problem)

        def on_result(path: Path, result: tuple) -> str | None:
            # Inconclusive files (not a JPEG, outside the card's domain...) are not analysed
            # and get no map; their verdict comes from the file header (ml.triage).
            if path not in maps:
                return None
            try:
                write_map(maps[path], result[1])
            except OSError as exc:
                return f"{path.name}: map not written ({exc})"
            return None

    if args.out:
        return _predict_to_log(args, files, model_path, predictor, on_result)

    def outcomes():
        """PathPrediction per file, for either architecture (ml.triage)."""
        yield from triage_paths(files, predictor, on_result=on_result)

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
    counts = dict.fromkeys(STATES, 0)
    failed = 0
    with progress:
        for item in outcomes():
            row = _row(item)
            failed += item.error is not None
            if item.verdict is not None:
                counts[item.verdict.state] += 1
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
    print(
        f"{len(files)} file(s): {counts['tampered']} tampered, {counts['no_trace']} no trace "
        f"found, {counts['inconclusive']} inconclusive, {failed} failed (model "
        f"{predictor.name}, threshold {predictor.threshold:g})",
        file=sys.stderr,
    )
    return 1 if failed else 0


def _predict_to_log(
    args: argparse.Namespace, files: list[Path], model_path: Path, predictor, on_result=None
) -> int:
    """Stream rows into ``--out`` as they come; counts only, so memory stays flat."""
    from tqdm import tqdm

    from .core.resultlog import ResultLog, ResultLogError

    out = Path(args.out)
    inputs = {f.absolute() for f in files}
    if out.absolute() in inputs:
        return fail(f"{out}: is one of the images; results are never written over evidence")
    try:
        log = ResultLog(out, resume=args.resume, force=args.force)
    except ResultLogError as error:
        return fail(str(error))
    counts = {"scored": 0, "tampered": 0, "inconclusive": 0, "failed": 0, "skipped": 0}
    with log, tqdm(total=len(files), file=sys.stderr, unit="image", dynamic_ncols=True) as bar:
        if args.ray:
            from .ml.cluster import ClusterError, predict_ray

            try:
                rows = predict_ray(
                    files, model_path, None if args.ray == "local" else args.ray,
                    done=log.done, workers=args.ray_workers,
                )  # fmt: skip
                for row in rows:
                    _count(counts, row)
                    if not row.get("skipped"):
                        log.write(row)
                    bar.update(1)
            except ClusterError as error:
                return fail(str(error))
        else:
            from .ml.triage import triage_paths

            outcomes = triage_paths(
                files, predictor, skip=log.is_done, hash_files=True, on_result=on_result
            )
            for item in outcomes:
                row = {"skipped": True} if item.skipped else _row(item)
                _count(counts, row)
                if not item.skipped:
                    log.write(row)
                bar.update(1)
    print(
        f"{len(files)} file(s): {counts['scored']} scored ({counts['tampered']} tampered, "
        f"{counts['inconclusive']} inconclusive), "
        f"{counts['failed']} failed, {counts['skipped']} already in {out}; {log.written} row(s) "
        f"written",
        file=sys.stderr,
    )
    return 1 if counts["failed"] else 0


def _count(counts: dict, row: dict) -> None:
    if row.get("skipped"):
        counts["skipped"] += 1
    elif "error" in row:
        counts["failed"] += 1
    else:
        counts["scored"] += 1
        counts["tampered"] += row.get("verdict") == "tampered"
        counts["inconclusive"] += row.get("verdict") == "inconclusive"
