"""Measure a model's false alarms on innocent photos outside its domain (for its card).

    python scripts/domain_false_alarms.py ../shared/datasets/camera-originals/photos \
        --model models/default.safetensors

Scores, as ``predict`` did before verdicts had a domain (so: ignoring the domain), every photo
(a) as the camera wrote it and (b) as a messenger-style copy: downscaled to at most 1600 px on
the long side (Lanczos) and saved at a seeded quality 70-80 with Pillow's standard tables,
4:2:0. Prints the counts flagged at the card's threshold, as the card's
``domain.false_alarms_outside`` entries.
"""

from __future__ import annotations

import argparse
import io
import json
import random
from pathlib import Path

import numpy as np
from PIL import Image

from forensic_viewer.core.images import is_image_path, load_image
from forensic_viewer.ml.predict import Predictor


def messenger_copy(pixels: np.ndarray, quality: int) -> np.ndarray:
    image = Image.fromarray(pixels)
    scale = 1600 / max(image.size)
    if scale < 1:
        size = (round(image.width * scale), round(image.height * scale))
        image = image.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, subsampling="4:2:0")
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--model", default="models/default.safetensors")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    predictor = Predictor(args.model)
    rng = random.Random(args.seed)
    paths = sorted(p for p in Path(args.folder).iterdir() if is_image_path(p))
    flagged = {"original": 0, "messenger": 0}
    for path in paths:
        pixels = load_image(path).pixels
        copy = messenger_copy(pixels, rng.randint(70, 80))
        for kind, rgb in (("original", pixels), ("messenger", copy)):
            p = predictor.predict(rgb).p_tampered
            flagged[kind] += p >= predictor.threshold
        print(path.name, flagged, flush=True)
    n = len(paths)
    print(json.dumps([
        {"images": f"untouched camera originals ({n} photos)", "flagged": flagged["original"],
         "of": n},
        {"images": f"messenger-style copies of them (<=1600 px, q70-80, {n} photos)",
         "flagged": flagged["messenger"], "of": n},
    ], indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
