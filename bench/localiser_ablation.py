"""Input ablation of the block localiser on the detection benchmark's suite (a subset).

    .venv/bin/python bench/localiser_ablation.py MODEL... [--camera-every 2] [--casia-every 3]

Scores each model (trained alike, one input group left out) on the held-out camera suite and on
CASIA re-saved at q90, every Nth camera photo (all of its pairs and innocent copies) and every
Nth CASIA group, so small runs stay small. The suite is ``bench/detection.py``'s default one
(built there first). Prints a markdown table; ``--json`` writes the summaries.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "datasets"


def _keep(group: str, every: int) -> bool:
    return zlib.crc32(group.encode()) % every == 0


def _fmt(value, pct=False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * value:.1f}%" if pct else f"{value:.3f}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", type=Path)
    p.add_argument("--camera-every", type=int, default=2)
    p.add_argument("--casia-every", type=int, default=3)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)

    from forensic_viewer.ml.detection_metrics import score_items_iter, summarise
    from forensic_viewer.ml.scorers import load_scorer
    from forensic_viewer.ml.suite import SuiteParams, load_suite

    params = SuiteParams(photos=str(SHARED / "camera-originals"), casia=str(SHARED / "casia1"))
    items = [
        item
        for item in load_suite(params)
        if (item.category == "camera" and _keep(item.group.split("-s0-")[0], args.camera_every))
        or (item.category == "casia-q90" and _keep(item.group, args.casia_every))
    ]
    results = {}
    for model in args.models:
        scorer = load_scorer(model)
        started = time.perf_counter()
        scored = [event.scored for event in score_items_iter(scorer, items)]
        summary = summarise(scored)
        results[scorer.name] = {"summary": summary, "seconds": time.perf_counter() - started}
        print(f"{scorer.name}: {len(scored)} images in {results[scorer.name]['seconds']:.0f} s",
              file=sys.stderr)  # fmt: skip
    names = list(results)
    rows = []
    camera = {n: results[n]["summary"]["camera"] for n in names}
    q90 = {n: results[n]["summary"].get("casia-q90") for n in names}
    first = camera[names[0]]
    n_tampered = first["tampering"]["all tampering"]["n"]
    n_authentic = first["authentic"]["all authentic"]["n"]
    for label, get, pct in (
        (f"camera: image AUC vs pairs, all tampering (n={n_tampered})",
         lambda c: c["tampering"]["all tampering"]["auc"], False),
        ("camera: pixel AUC median", lambda c: c["tampering"]["all tampering"]["pixel_auc"], False),
        (f"camera: authentic flagged, all kinds (n={n_authentic})",
         lambda c: c["authentic"]["all authentic"]["flagged"], True),
    ):  # fmt: skip
        rows.append([label] + [_fmt(get(camera[n]), pct) for n in names])
    if all(q90.values()):
        label = f"CASIA q90 ({q90[names[0]]['authentic_n']} au + {q90[names[0]]['n']} tp)"
        rows.append([f"{label}: image AUC"] + [_fmt(q90[n]["auc"]) for n in names])
        rows.append([f"{label}: pixel AUC median"] + [_fmt(q90[n]["pixel_auc"]) for n in names])
    print("| figure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if args.json:
        from forensic_viewer.ml.metrics import json_safe

        args.json.write_text(json.dumps(json_safe(results), indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
