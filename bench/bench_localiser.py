"""Speed of the block localiser on 12 MP camera photos beside the previous default, same run.

    .venv/bin/python bench/bench_localiser.py --model models/localiser.safetensors [--rounds 3]

Per round (interleaved, so both see the same machine load): one photo to verdict and full map
with the localiser (JPEG coefficients, features, network, map), then the same photo with the
previous default (decode, ELA, tiles within the verdict budget, as the viewer does). Then a
folder pass (``predict``'s path: features of the next file on a loader thread) over every
photo of at least 11 MP. Reports medians and the ratio. Nothing is written.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PHOTOS = ROOT.parent / "shared" / "datasets" / "camera-originals"


def large_photos(folder: Path, min_pixels: int = 11_000_000) -> list[Path]:
    import csv

    with (folder / "MANIFEST.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [folder / r["file"] for r in rows if int(r["width"]) * int(r["height"]) >= min_pixels]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="the localiser model file")
    p.add_argument("--reference", default="default", help="ElaCnn model to compare with")
    p.add_argument("--photos", type=Path, default=PHOTOS)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument(
        "--precision",
        action="append",
        choices=("auto", "float32", "bf16"),
        help="the localiser's arithmetic (repeat to compare; default: float32, and bf16 too "
        "where the CPU has it natively)",
    )
    args = p.parse_args(argv)

    from forensic_viewer.core.images import load_image
    from forensic_viewer.core.paths import bundled_models_dir
    from forensic_viewer.ml import local_features as lf
    from forensic_viewer.ml.architectures import analyse_paths, make_predictor
    from forensic_viewer.ml.predict import VERDICT_MAX_TILES, Predictor

    photos = large_photos(args.photos)
    if not photos:
        print("no photo of 11 MP or more found", file=sys.stderr)
        return 2
    from forensic_viewer.ml.localiser_predict import LocaliserPredictor
    from forensic_viewer.ml.scoring import cpu_has_native_bf16

    precisions = args.precision or (["float32", "bf16"] if cpu_has_native_bf16() else ["float32"])
    localisers = {p: LocaliserPredictor(args.model, precision=p) for p in precisions}
    assert isinstance(make_predictor(args.model), LocaliserPredictor)
    reference_path = (
        bundled_models_dir() / "default.safetensors"
        if args.reference == "default"
        else Path(args.reference)
    )
    reference = Predictor(reference_path)
    photo = photos[0]
    times: dict[str, list[float]] = {k: [] for k in ("reference", "read", "features")}
    for _ in range(args.rounds):
        for precision, localiser in localisers.items():
            started = time.perf_counter()
            _, heat = localiser.analyse_file(photo)
            heat.upsample()
            times.setdefault(precision, []).append(time.perf_counter() - started)
        started = time.perf_counter()
        features = lf.read_block_features(photo)
        times["features"].append(time.perf_counter() - started)
        started = time.perf_counter()
        pixels = load_image(photo).pixels
        prediction, tiles = reference.analyse(pixels, max_tiles=VERDICT_MAX_TILES)
        tiles.upsample()
        times["reference"].append(time.perf_counter() - started)
        del features, pixels, prediction, tiles
    median = {k: statistics.median(v) for k, v in times.items() if v}
    print(f"photo {photo.name} ({heat.image_shape[1]}x{heat.image_shape[0]}), "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"features alone (read + features): {median['features']:.2f} s")
    for precision in localisers:
        print(f"localiser ({precision}) verdict + full map: {median[precision]:.2f} s, every "
              f"8x8 block; ratio to {reference.name}: "
              f"{median[precision] / median['reference']:.2f}")  # fmt: skip
    print(f"{reference.name} verdict + tile heatmap: {median['reference']:.2f} s "
          f"({VERDICT_MAX_TILES} tiles at most)")  # fmt: skip
    for precision, localiser in localisers.items():
        started = time.perf_counter()
        done = sum(1 for *_, error in analyse_paths(photos, localiser) if error is None)
        seconds = time.perf_counter() - started
        print(f"folder ({precision}): {done} photos of >= 11 MP in {seconds:.1f} s = "
              f"{done / seconds:.2f} img/s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
