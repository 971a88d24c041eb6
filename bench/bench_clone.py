"""Clone (copy-move) detection: detection rate, pixel F1 and speed, for both methods.

- CASIA v1 copy-moves (``Sp_S_*``, 353) against CASIA authentic photos (600): TPR at the score
  threshold where at most 5% of the authentic photos are flagged, ROC AUC, pixel F1 against the
  masks (which mark the pasted copy only, while the detector marks both copies).
- The generator's copy-move pairs (``ml.synthetic``, camera-originals, seed 0): ``copy_move``
  (moved as is) and ``copy_move_resized`` (0.6-1.4x, 30% also rotated) against their
  ``pair_authentic`` twins saved with the same settings.
- Speed on a 12 MP photo mosaic with a cloned block, beside ``core.ela.ela`` on the same image in
  the same run (this 2-core machine is shared: compare ratios, not absolute times).

    .venv/bin/python bench/bench_clone.py [--casia-step 1] [--dense-step 3] [--per-photo 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.photos import CASIA, mosaic  # noqa: E402
from forensic_viewer.core.analyses import REGISTRY, run_analysis  # noqa: E402
from forensic_viewer.core.images import load_image  # noqa: E402

CAMERA = CASIA.parent / "camera-originals"
MAX_FPR = 0.05


def tpr_at_fpr(positive: list[float], negative: list[float], max_fpr: float = MAX_FPR):
    """(TPR, FPR, threshold) for the lowest threshold t (flagged: score >= t, t > 0) at which at
    most ``max_fpr`` of the negatives are flagged."""
    if not negative:
        raise ValueError("no negatives to set a threshold on")
    for t in sorted({s for s in positive + negative if s > 0}) + [np.inf]:
        fpr = float(np.mean(np.asarray(negative) >= t))
        if fpr <= max_fpr:
            return float(np.mean(np.asarray(positive) >= t)), fpr, float(t)
    raise AssertionError("unreachable")


def auc(positive: list[float], negative: list[float]) -> float:
    """ROC AUC (ties count half)."""
    pos, neg = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def f1(mask: np.ndarray, truth: np.ndarray) -> float:
    total = mask.sum() + truth.sum()
    return float(2 * (mask & truth).sum() / total) if total else 1.0


def score(path: Path, method: str):
    result = run_analysis(REGISTRY["clone"], load_image(path), {"method": method})
    return result.score, result.mask


def casia_rows(method: str, step: int) -> list[dict]:
    rows = []
    tampered = sorted((CASIA / "tampered").glob("Sp_S_*"))[::step]
    authentic = sorted(p for p in (CASIA / "authentic").glob("*") if p.suffix.lower() == ".jpg")
    for path in tampered + authentic[::step]:
        started = time.perf_counter()
        value, mask = score(path, method)
        row = {"file": path.name, "label": int(path.name.startswith("Sp_")), "score": value}
        row["seconds"] = time.perf_counter() - started
        truth_path = CASIA / "masks" / f"{path.stem}.png"
        if row["label"] and truth_path.exists():
            truth = cv2.imread(str(truth_path), cv2.IMREAD_GRAYSCALE) > 127
            row["f1"] = f1(mask, truth)
        rows.append(row)
    return rows


def synthetic_rows(method: str, per_photo: int, photo_step: int) -> list[dict]:
    from forensic_viewer.ml.synthetic import find_photos, generate

    photos = find_photos(CAMERA)[::photo_step]
    rows = []
    kinds = ("copy_move", "copy_move_resized", "pair_authentic")
    with tempfile.TemporaryDirectory() as folder:
        for index, item in enumerate(generate(photos, 0, per_photo=per_photo, kinds=kinds)):
            path = Path(folder) / f"{index}.jpg"
            path.write_bytes(item.jpeg)
            value, mask = score(path, method)
            row = {"kind": item.kind, "label": item.label, "score": value, "pair": item.pair_id}
            row["blend"] = (item.params or {}).get("blend", "")
            if item.label:
                row["f1"] = f1(mask, item.mask)
            rows.append(row)
            path.unlink()
    return rows


def summarise(rows: list[dict], negatives: list[dict], name: str) -> dict:
    positive = [r["score"] for r in rows]
    negative = [r["score"] for r in negatives]
    tpr, fpr, threshold = tpr_at_fpr(positive, negative)
    f1s = [r["f1"] for r in rows if "f1" in r]
    flagged = [r["f1"] for r in rows if "f1" in r and r["score"] >= threshold]
    return {
        "set": name,
        "positives": len(positive),
        "negatives": len(negative),
        "tpr": tpr,
        "fpr": fpr,
        "threshold": threshold,
        "auc": auc(positive, negative),
        "f1_median": statistics.median(f1s) if f1s else None,
        "f1_mean": statistics.fmean(f1s) if f1s else None,
        "f1_median_flagged": statistics.median(flagged) if flagged else None,
        "flagged_negatives_any": float(np.mean(np.asarray(negative) > 0)),
    }


def speed(methods: list[str], runs: int) -> list[dict]:
    from forensic_viewer.core.ela import ela

    image = mosaic(4000, 3000)
    image[1800:2200, 2600:3000] = image[300:700, 500:900].copy()  # a 400 px clone
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.jpg"
        cv2.imwrite(
            str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92]
        )
        loaded = load_image(path)
    times: dict[str, list[float]] = {m: [] for m in ["ela", *methods]}
    cpu: dict[str, list[float]] = {m: [] for m in times}
    found = {}
    for _ in range(runs):  # interleaved, so load hits every method alike
        started, cpu_started = time.perf_counter(), time.process_time()
        ela(loaded.pixels)
        times["ela"].append(time.perf_counter() - started)
        cpu["ela"].append(time.process_time() - cpu_started)
        for method in methods:
            started, cpu_started = time.perf_counter(), time.process_time()
            result = run_analysis(REGISTRY["clone"], loaded, {"method": method})
            times[method].append(time.perf_counter() - started)
            cpu[method].append(time.process_time() - cpu_started)
            found[method] = result.data["clusters"][:1]
    reference = statistics.median(times["ela"])
    return [
        {
            "what": m,
            "seconds": statistics.median(times[m]),
            "cpu_seconds": statistics.median(cpu[m]),
            "vs_ela": statistics.median(times[m]) / reference,
            "found": found.get(m),
        }
        for m in times
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="keypoints,dense")
    parser.add_argument("--casia-step", type=int, default=1, help="every Nth CASIA file")
    parser.add_argument("--dense-step", type=int, default=3, help="dense: every Nth file/photo")
    parser.add_argument("--per-photo", type=int, default=2, help="generator rounds per photo")
    parser.add_argument("--speed-runs", type=int, default=3)
    parser.add_argument("--skip", default="", help="comma list of casia,synthetic,speed to skip")
    parser.add_argument("--json", metavar="OUT.json")
    args = parser.parse_args()
    methods = args.methods.split(",")
    skip = set(args.skip.split(","))
    report: dict = {"sets": [], "speed": [], "rows": {}}
    for method in methods:
        step = args.casia_step * (args.dense_step if method == "dense" else 1)
        if "casia" not in skip:
            rows = casia_rows(method, step)
            report["rows"][f"casia-{method}"] = rows
            summary = summarise(
                [r for r in rows if r["label"]], [r for r in rows if not r["label"]], "CASIA Sp_S"
            )
            summary["method"] = method
            summary["seconds_median"] = statistics.median(r["seconds"] for r in rows)
            report["sets"].append(summary)
            print(json.dumps(summary), flush=True)
        if "synthetic" not in skip:
            photo_step = args.dense_step if method == "dense" else 1
            rows = synthetic_rows(method, args.per_photo, photo_step)
            report["rows"][f"synthetic-{method}"] = rows
            negatives = [r for r in rows if not r["label"]]
            for kind in ("copy_move", "copy_move_resized"):
                positives = [r for r in rows if r["kind"] == kind]
                summary = summarise(positives, negatives, f"generator {kind}")
                summary["method"] = method
                report["sets"].append(summary)
                print(json.dumps(summary), flush=True)
                plain = [r for r in positives if r["blend"] == "none"]
                if plain:
                    summary = summarise(plain, negatives, f"generator {kind}, no blending")
                    summary["method"] = method
                    report["sets"].append(summary)
                    print(json.dumps(summary), flush=True)
    if "speed" not in skip:
        report["speed"] = speed(methods, args.speed_runs)
        for row in report["speed"]:
            print(json.dumps(row), flush=True)
    print()
    header = f"{'method':<10} {'set':<38} {'n+':>4} {'n-':>4}   TPR   FPR   thr    AUC"
    print(header + "  F1 med  F1 mean")
    for s in report["sets"]:
        print(
            f"{s['method']:<10} {s['set']:<38} {s['positives']:>4} {s['negatives']:>4} "
            f"{s['tpr']:5.3f} {s['fpr']:5.3f} {s['threshold']:>5g} {s['auc']:6.3f} "
            f"{s['f1_median'] or 0:6.3f} {s['f1_mean'] or 0:7.3f}"
        )
    for row in report["speed"]:
        print(
            f"12 MP {row['what']:<10} {row['seconds']:6.2f} s wall  {row['cpu_seconds']:6.2f} s CPU"
            f"  {row['vs_ela']:5.1f}x ELA (wall)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
