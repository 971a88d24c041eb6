"""Pixel AUC of the double-compression and noise maps against tampering masks, beside plain ELA.

    .venv/bin/python bench/bench_analyses.py [--casia-step N] [--photos N]

- CASIA v1 tampered images (``../shared/datasets/casia1``, every one with a mask): the dq map.
- The generator's web-donor splices (``ml.synthetic``, kinds ``splice_web`` and
  ``splice_web_resized``, from ``../shared/datasets/camera-originals``): the dq map.
- The generator's camera-donor splices (``splice_camera``): the noise map (deviation).
- The camera originals' EXIF thumbnails: how many an untouched file gets flagged as mismatched.

Every map is brought to the pixel grid (each cell repeated) and scored per image with the exact
ROC AUC against the mask; the median over images is reported, with the share of images above 0.5.
ELA reference: the plain q90 ELA (largest channel) averaged over each 8x8 JPEG block.

How the dq map is read for the AUC (fixed before measuring, not tuned): a block is suspicious when
it lacks the trace the image as a whole carries. With an aligned double compression found, that is
1 - P(aligned). Otherwise, with a non-aligned one found, P(non-aligned) when it covers less than
half of the image (a pasted JPEG), 1 - P(non-aligned) when it covers more (the background's own
earlier grid). With neither, the map is flat (AUC 0.5): the method has no evidence to offer.
Nothing here is tuned on these images; the thresholds come from the made-up tests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the package and bench.photos

from forensic_viewer.core.analyses import REGISTRY, run_analysis  # noqa: E402
from forensic_viewer.core.dq_maps import aligned_map, clipped_blocks, non_aligned_map  # noqa: E402
from forensic_viewer.core.ela import ela_difference  # noqa: E402
from forensic_viewer.core.images import load_image  # noqa: E402
from forensic_viewer.core.jpeg_dct import luma_plane, read_luma  # noqa: E402
from forensic_viewer.ml.metrics import roc_auc  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
CASIA = SHARED / "casia1"
CAMERA = SHARED / "camera-originals"


def to_pixels(block_map: np.ndarray, cell: int, height: int, width: int) -> np.ndarray:
    full = np.repeat(np.repeat(block_map, cell, axis=0), cell, axis=1)
    out = np.zeros((height, width), np.float32)
    h, w = min(height, full.shape[0]), min(width, full.shape[1])
    out[:h, :w] = full[:h, :w]
    return out


def pixel_auc(score: np.ndarray, mask: np.ndarray) -> float:
    return roc_auc(mask.ravel().astype(int), score.ravel())


WINDOW = 3  # the analysis's default neighbourhood; --window 1 gives the paper's block-wise map


def dq_suspicion(path: Path, pixels: np.ndarray) -> tuple[np.ndarray, str]:
    """The dq map read as 'lacks the image's own trace' (see the module docstring)."""
    luma = read_luma(path)
    plane = luma_plane(luma)
    unreliable = clipped_blocks(pixels, luma.coefficients.shape[:2])
    aligned = aligned_map(luma, plane, 6, unreliable, window=WINDOW)
    if any(fit.informative for fit in aligned.modes):
        return 1.0 - aligned.probability, "aligned"
    na = non_aligned_map(luma, plane, 6, unreliable, window=WINDOW)
    if na.detected:
        share = float((na.probability > 0.5).mean())
        return (na.probability if share < 0.5 else 1.0 - na.probability), "non-aligned"
    return np.zeros(aligned.probability.shape, np.float32), "none"


def ela_blocks(pixels: np.ndarray) -> np.ndarray:
    diff = ela_difference(pixels, 90).max(axis=2).astype(np.float32)
    h, w = diff.shape[0] // 8 * 8, diff.shape[1] // 8 * 8
    blocks = diff[:h, :w].reshape(h // 8, 8, w // 8, 8).mean(axis=(1, 3))
    return to_pixels(blocks, 8, *diff.shape)


def summary(name: str, aucs: list[float]) -> str:
    aucs = [a for a in aucs if a == a]
    if not aucs:
        return f"{name:<34} n=0"
    above = float(np.mean(np.array(aucs) > 0.5))
    return (
        f"{name:<34} n={len(aucs):<4} median AUC {statistics.median(aucs):.3f}  "
        f"mean {statistics.fmean(aucs):.3f}  > 0.5: {above:.0%}"
    )


def casia(step: int) -> list[str]:
    manifest = [line.split("\t") for line in (CASIA / "MANIFEST.tsv").read_text().splitlines()[1:]]
    files = sorted(CASIA / f for f, label, *_ in manifest if label == "tampered")[::step]
    rows: dict[str, dict[str, list[float]]] = {"Sp_D": {}, "Sp_S": {}}
    modes: dict[str, int] = {}
    by_evidence: dict[str, list[float]] = {}
    seconds = 0.0
    for path in files:
        mask_path = CASIA / "masks" / f"{path.stem}.png"
        if not mask_path.is_file():
            continue
        image = load_image(path)
        mask = np.asarray(Image.open(mask_path).convert("L")) > 127
        if mask.shape != image.pixels.shape[:2]:
            continue
        start = time.perf_counter()
        suspicion, mode = dq_suspicion(path, image.pixels)
        seconds += time.perf_counter() - start
        modes[mode] = modes.get(mode, 0) + 1
        h, w = mask.shape
        kind = path.name[:4]
        auc = pixel_auc(to_pixels(suspicion, 8, h, w), mask)
        rows[kind].setdefault("dq", []).append(auc)
        by_evidence.setdefault(mode, []).append(auc)
        rows[kind].setdefault("ela", []).append(pixel_auc(ela_blocks(image.pixels), mask))
    lines = [f"CASIA v1 tampered (every {step}th), dq evidence used: {modes}"]
    for kind in ("Sp_D", "Sp_S"):
        lines.append(summary(f"  {kind} dq map", rows[kind].get("dq", [])))
        lines.append(summary(f"  {kind} ELA q90 8x8 mean", rows[kind].get("ela", [])))
    both_dq = rows["Sp_D"].get("dq", []) + rows["Sp_S"].get("dq", [])
    both_ela = rows["Sp_D"].get("ela", []) + rows["Sp_S"].get("ela", [])
    lines.append(summary("  all dq map", both_dq))
    lines.append(summary("  all ELA q90 8x8 mean", both_ela))
    for mode, values in sorted(by_evidence.items()):
        lines.append(summary(f"  dq map, evidence '{mode}'", values))
    lines.append(f"  dq time {seconds / max(1, len(both_dq)):.2f} s per image (384x256 mostly)")
    return lines


def generated(kinds: tuple[str, ...], photos: int, seed: int, analysis: str) -> list[str]:
    from forensic_viewer.ml.synthetic import find_photos, generate

    pool = find_photos(CAMERA)
    targets = pool[:photos]
    rows: dict[str, dict[str, list[float]]] = {}
    modes: dict[str, int] = {}
    by_evidence: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "generated.jpg"
        for item in generate(targets, seed, kinds=kinds, max_side=1024, donors=pool):
            if item.label != 1 or not item.mask.any() or item.mask.all():
                continue
            path.write_bytes(item.jpeg)
            image = load_image(path)
            h, w = item.mask.shape
            if analysis == "dq":
                suspicion, mode = dq_suspicion(path, image.pixels)
                modes[mode] = modes.get(mode, 0) + 1
                score = to_pixels(suspicion, 8, h, w)
            else:
                result = run_analysis(REGISTRY["noise"], image, {"show": "deviation"})
                score = to_pixels(result.image, result.cell, h, w)
            auc = pixel_auc(score, item.mask)
            rows.setdefault(item.kind, {}).setdefault(analysis, []).append(auc)
            if analysis == "dq":
                by_evidence.setdefault(mode, []).append(auc)
            rows[item.kind].setdefault("ela", []).append(
                pixel_auc(ela_blocks(image.pixels), item.mask)
            )
    lines = [f"generator seed {seed}, {len(targets)} target photos, max_side 1024" + (
        f", dq evidence used: {modes}" if modes else "")]  # fmt: skip
    for kind, values in rows.items():
        lines.append(summary(f"  {kind} {analysis} map", values.get(analysis, [])))
        lines.append(summary(f"  {kind} ELA q90 8x8 mean", values.get("ela", [])))
    if len(rows) > 1:
        every = {name: sum((v[name] for v in rows.values()), []) for name in (analysis, "ela")}
        lines.append(summary(f"  all {analysis} map", every[analysis]))
        lines.append(summary("  all ELA q90 8x8 mean", every["ela"]))
    for mode, values in sorted(by_evidence.items()):
        lines.append(summary(f"  dq map, evidence '{mode}'", values))
    return lines


def thumbnails() -> list[str]:
    """The thumbnail comparison on untouched camera files: every mismatch is a false alarm."""
    from forensic_viewer.core.analyses.thumbnail import MISMATCH_LOCAL, MISMATCH_MEAN
    from forensic_viewer.core.thumbnail import (
        decode_thumbnail,
        exif_thumbnail_bytes,
        match_thumbnail,
    )

    means, locals_, flagged, without = [], [], [], 0
    photos = (CAMERA / "photos").iterdir()
    for path in sorted(p for p in photos if p.suffix.lower() in (".jpg", ".jpeg")):
        data = exif_thumbnail_bytes(path)
        thumbnail = None if data is None else decode_thumbnail(data)
        if thumbnail is None:
            without += 1
            continue
        match = match_thumbnail(load_image(path).pixels, thumbnail)
        means.append(match.mean_difference)
        locals_.append(match.local_difference)
        if match.mean_difference > MISMATCH_MEAN or match.local_difference > MISMATCH_LOCAL:
            flagged.append(
                f"{path.name} ({match.mean_difference:.1f} / {match.local_difference:.1f})"
            )
    return [
        f"camera originals: {len(means)} with an EXIF thumbnail, {without} without",
        f"  mean difference: median {statistics.median(means):.1f}, max {max(means):.1f}; "
        f"98th percentile: median {statistics.median(locals_):.1f}, max {max(locals_):.1f}",
        f"  flagged as mismatch (false alarms): {len(flagged)} {flagged}",
    ]


def speed(rounds: int) -> list[str]:
    """Seconds per view on a 12 MP JPEG (a mosaic of CASIA photos saved at q75 then q90, so the
    dq map has work to do), interleaved with the reference: our exact ELA at q90 on the same
    pixels. Median of ``rounds``; ratios are to the ELA of the same round."""
    import io

    from bench.photos import mosaic
    from forensic_viewer.core.ela import ela

    pixels = mosaic(4000, 3000)
    first = io.BytesIO()
    Image.fromarray(pixels).save(first, "JPEG", quality=75)
    resaved = np.asarray(Image.open(io.BytesIO(first.getvalue())).convert("RGB"))
    times: dict[str, list[float]] = {"ELA q90 (reference)": [], "dq": [], "noise": []}
    times["thumbnail"] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mosaic.jpg"
        Image.fromarray(resaved).save(path, "JPEG", quality=90)
        image = load_image(path)
        for _ in range(rounds):
            for name in times:
                start = time.perf_counter()
                if name.startswith("ELA"):
                    ela(image.pixels, 90)
                else:
                    run_analysis(REGISTRY[name], image)
                times[name].append(time.perf_counter() - start)
    reference = statistics.median(times["ELA q90 (reference)"])
    lines = [f"speed, 12 MP JPEG (4000x3000), median of {rounds} interleaved rounds"]
    for name, values in times.items():
        median = statistics.median(values)
        lines.append(f"  {name:<22} {median:7.2f} s  {median / reference:6.1f}x ELA")
    return lines


def main() -> int:
    global WINDOW
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--casia-step", type=int, default=1, help="every Nth CASIA tampered file")
    parser.add_argument("--photos", type=int, default=104, help="generator target photos")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--only", choices=("casia", "web", "camera", "thumbnails", "speed"), default=None
    )
    parser.add_argument("--rounds", type=int, default=5, help="speed rounds")
    parser.add_argument("--window", type=int, default=WINDOW, help="dq neighbourhood (blocks)")
    args = parser.parse_args()
    WINDOW = args.window
    print(f"dq neighbourhood {WINDOW}x{WINDOW} blocks", flush=True)
    if args.only in (None, "speed"):
        print("\n".join(speed(args.rounds)), flush=True)
    if args.only in (None, "casia") and (CASIA / "MANIFEST.tsv").is_file():
        print("\n".join(casia(args.casia_step)), flush=True)
    if CAMERA.is_dir():
        if args.only in (None, "thumbnails"):
            print("\n".join(thumbnails()), flush=True)
        if args.only in (None, "web"):
            kinds = ("splice_web", "splice_web_resized")
            print("\n".join(generated(kinds, args.photos, args.seed, "dq")), flush=True)
        if args.only in (None, "camera"):
            print("\n".join(generated(("splice_camera",), args.photos, args.seed, "noise")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
