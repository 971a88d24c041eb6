"""The detection benchmark (issue 9): held-out camera makes and CASIA, for any scorer.

Builds (once, into the user cache folder) a fixed suite: for each camera-originals photo of the
held-out makes (``ml.suite.HELD_OUT_MAKES``), every tampering kind with its compression-matched
authentic and every innocent operation; and the CASIA v1 validation split as is and re-saved at
q75 and q90. Then scores it with each scorer and prints markdown tables (and ``--json``).

    .venv/bin/python bench/detection.py --scorer default --scorer ela-blocks [--model PATH]

Scorers: ``ela-blocks`` (plain ELA block statistics), ``default`` (models/default), or a model
file (``--model PATH``, any architecture registered in ``ml.scorers``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "datasets"

from tqdm import tqdm  # noqa: E402

from forensic_viewer.ml.detection_metrics import (  # noqa: E402
    CASIA_CATEGORIES,
    score_items_iter,
    summarise,
)
from forensic_viewer.ml.metrics import json_safe  # noqa: E402
from forensic_viewer.ml.scorers import load_scorer  # noqa: E402
from forensic_viewer.ml.suite import (  # noqa: E402
    HELD_OUT_MAKES,
    QUALITY_BUCKETS,
    SuiteParams,
    build_suite_iter,
    load_suite,
    suite_folder,
)
from forensic_viewer.ml.synthetic import INNOCENT_KINDS, TAMPERED_KINDS  # noqa: E402


def _pct(value) -> str:
    return "–" if value is None or math.isnan(value) else f"{100 * value:.1f}%"


def _flag(row: dict, flagged: str = "flagged", over: str = "over_threshold") -> str:
    """The share flagged, and beside it the share with P(tampered) >= threshold when the verdict
    rules (inconclusive outside a model's domain) make the two differ."""
    text = _pct(row.get(flagged))
    raw = row.get(over)
    if raw is not None and not math.isnan(raw) and _pct(raw) != text:
        text += f" (p≥t {_pct(raw)})"
    return text


def _num(value) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.3f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(results: dict[str, dict]) -> str:
    """Tables with one column per scorer."""
    names = list(results)
    parts = []
    cameras = {n: r["summary"].get("camera") for n, r in results.items()}
    if all(cameras.values()):
        first = cameras[names[0]]
        rows = []
        for kind in (*INNOCENT_KINDS, "pair_authentic"):
            n = first["authentic"][kind]["n"]
            rows.append(
                [f"authentic flagged: {kind} (n={n})"]
                + [_flag(cameras[s]["authentic"][kind]) for s in names]
            )
        rows.append(
            ["authentic inconclusive (all kinds)"]
            + [_pct(cameras[s]["authentic"]["all authentic"]["inconclusive"]) for s in names]
        )
        for figure, key, fmt in (
            ("image AUC vs its pairs", "auc", _num),
            ("tampered flagged", None, _flag),
            ("pixel AUC median", "pixel_auc", _num),
            ("pixel F1 median", "pixel_f1", _num),
        ):
            for kind in (*TAMPERED_KINDS, "all tampering"):
                n = first["tampering"][kind]["n"]
                cells = [cameras[s]["tampering"][kind] for s in names]
                cells = [fmt(c) if key is None else fmt(c[key]) for c in cells]
                rows.append([f"{figure}: {kind} (n={n})", *cells])
        parts.append("### Camera originals, held-out makes\n\n" + _table(["figure", *names], rows))
        rows = []
        for bucket in [b[0] for b in QUALITY_BUCKETS] + ["own tables"]:
            cell = first["quality"][bucket]
            label = f"{bucket} ({cell['n']} pairs, {cell['innocent_n']} innocent)"
            for figure, key, fmt in (
                ("image AUC", "auc", _num),
                ("pair authentic flagged", "pair_authentic_flagged", _pct),
                ("innocent ops flagged", "innocent_flagged", _pct),
                ("tampered flagged", "flagged", _pct),
                ("pixel AUC median", "pixel_auc", _num),
            ):
                cells = [fmt(cameras[s]["quality"][bucket][key]) for s in names]
                rows.append([f"{label}: {figure}", *cells])
        parts.append(
            "### Per final-save quality (camera suite, all tampering kinds)\n\n"
            + _table(["bucket: figure", *names], rows)
        )
    rows = []
    for category in CASIA_CATEGORIES:
        cells = {n: r["summary"].get(category) for n, r in results.items()}
        if not all(cells.values()):
            continue
        first = cells[names[0]]
        label = f"{category} ({first['authentic_n']} au + {first['n']} tp)"
        for figure, key, fmt in (
            ("image AUC", "auc", _num),
            ("authentic flagged", "authentic", _flag),
            ("tampered flagged", "tampered", _flag),
            ("inconclusive (authentic)", "authentic_inconclusive", _pct),
            ("pixel AUC median", "pixel_auc", _num),
            ("pixel F1 median", "pixel_f1", _num),
        ):
            if key == "authentic":
                values = [
                    _flag(cells[s], "authentic_flagged", "authentic_over_threshold") for s in names
                ]
            elif key == "tampered":
                values = [_flag(cells[s]) for s in names]
            else:
                values = [fmt(cells[s][key]) for s in names]
            rows.append([f"{label}: {figure}", *values])
    if rows:
        parts.append("### CASIA v1 validation split\n\n" + _table(["figure", *names], rows))
    timing = [
        [n, f"{r['seconds']:.0f} s", f"{r['cpu_seconds']:.0f} s", str(r["images"])]
        for n, r in results.items()
    ]
    header = ["scorer", "wall time", "CPU time (all threads)", "images"]
    parts.append("### Scoring time\n\n" + _table(header, timing))
    return "\n\n".join(parts) + "\n"


def reverdict(result: dict, scorer) -> dict:
    """A stored run's figures again, with the states the scorer's verdict rules give each file
    (``ml.scorers.verdict_gate``) and its stored P(tampered)."""
    from forensic_viewer.ml.detection_metrics import Scored
    from forensic_viewer.ml.scorers import INCONCLUSIVE, state_for, verdict_gate
    from forensic_viewer.ml.suite import SuiteItem

    scored, rows = [], []
    for row in result["images_scored"]:
        p = row["p"]
        gate = verdict_gate(Path(row["file"]).read_bytes(), scorer.card)
        state = INCONCLUSIVE if gate is not None else state_for(p, scorer.threshold)
        keys = ("file", "label", "kind", "category", "group", "quality")
        item = SuiteItem(*(row[k] for k in keys))
        over = None if p is None else p >= scorer.threshold
        scored.append(Scored(item, p, state, row["pixel_auc"], row["pixel_f1"], over))
        rows.append({**row, "state": state})
    return {**result, "summary": summarise(scored), "images_scored": rows}


def _nan_back(value):
    """JSON null (json_safe's NaN) back to NaN, for the tables."""
    if isinstance(value, dict):
        return {k: _nan_back(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_back(v) for v in value]
    return float("nan") if value is None else value


def _cpu_seconds() -> float:
    """CPU time of this process, all threads: on a shared machine the wall time says how busy the
    machine was; CPU seconds / 2 is the wall time on 2 free cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scorer", action="append", default=[], help="ela-blocks | default | PATH")
    p.add_argument("--model", action="append", default=[], help="a model file to score")
    p.add_argument("--photos", default=str(SHARED / "camera-originals"))
    p.add_argument("--casia", default=str(SHARED / "casia1"))
    p.add_argument("--no-photos", action="store_true")
    p.add_argument("--no-casia", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-photo", type=int, default=5)
    p.add_argument("--max-side", type=int, default=512)
    p.add_argument("--max-photos", type=int, default=None)
    p.add_argument("--max-casia", type=int, default=None, help="N authentic + N tampered")
    p.add_argument("--json", type=Path, default=None, help="write all figures here")
    p.add_argument("--markdown", type=Path, default=None, help="write the tables here")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--reverdict",
        action="append",
        default=[],
        metavar="MODEL",
        help="with --combine: recompute that model's verdict states (ml.verdict rules of its "
        "card) from the stored P(tampered), without scoring again",
    )
    p.add_argument(
        "--combine",
        nargs="+",
        type=Path,
        default=None,
        metavar="JSON",
        help="only print the tables of earlier runs' --json files side by side",
    )
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.combine:
        results = {}
        for path in args.combine:
            results.update(json.loads(path.read_text(encoding="utf-8"))["results"])
        for spec in args.reverdict:
            scorer = load_scorer(spec)
            results[scorer.name] = reverdict(results[scorer.name], scorer)
        if args.json:
            args.json.write_text(json.dumps(json_safe({"results": results}), indent=1))
        text = markdown(_nan_back(results))
        print(text)
        if args.markdown:
            args.markdown.write_text(text, encoding="utf-8")
        return 0
    specs = args.scorer + args.model or ["ela-blocks"]
    params = SuiteParams(
        photos=None if args.no_photos else args.photos,
        casia=None if args.no_casia else args.casia,
        seed=args.seed,
        per_photo=args.per_photo,
        max_side=args.max_side,
        max_photos=args.max_photos,
        max_casia=args.max_casia,
    )
    try:
        scorers = [load_scorer(spec) for spec in specs]
        started = time.perf_counter()
        bar = None
        for event in build_suite_iter(params):
            if bar is None and not args.quiet:
                bar = tqdm(total=event.total, desc="building the suite", file=sys.stderr)
            if bar is not None:
                bar.update(event.done - bar.n)
        if bar is not None:
            bar.close()
        build_seconds = time.perf_counter() - started
        items = load_suite(params)
    except (OSError, ValueError) as exc:
        print(f"detection: {exc}", file=sys.stderr)
        return 2
    results = {}
    for scorer in scorers:
        started = time.perf_counter()
        cpu_before = _cpu_seconds()
        scored = []
        events = score_items_iter(scorer, items)
        if not args.quiet:
            events = tqdm(events, total=len(items), desc=scorer.name, file=sys.stderr)
        for event in events:
            scored.append(event.scored)
        results[scorer.name] = {
            "seconds": time.perf_counter() - started,
            "cpu_seconds": _cpu_seconds() - cpu_before,
            "images": len(scored),
            "threshold": scorer.threshold,
            "summary": summarise(scored),
            # Per image, so figures can be recomputed (e.g. with other verdict rules) without
            # running the scorer again.
            "images_scored": [
                {
                    "file": r.item.file,
                    "kind": r.item.kind,
                    "category": r.item.category,
                    "quality": r.item.quality,
                    "group": r.item.group,
                    "label": r.item.label,
                    "p": r.p,
                    "state": r.state,
                    "pixel_auc": r.pixel_auc,
                    "pixel_f1": r.pixel_f1,
                }
                for r in scored
            ],
        }
    text = markdown(results)
    print(f"suite: {suite_folder(params)} ({len(items)} images, built in {build_seconds:.0f} s)")
    print(f"held-out makes: {', '.join(HELD_OUT_MAKES)}")
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
    if args.json:
        report = {
            "params": vars(params),
            "build_seconds": build_seconds,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
            "results": results,
        }
        args.json.write_text(json.dumps(json_safe(report), indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
