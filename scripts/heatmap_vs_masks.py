"""How well does a model's tile heatmap outline the tampered region? Measured on CASIA masks.

    .venv/bin/python scripts/heatmap_vs_masks.py [--model M] [--split val|all]

For every tampered image of the group-split validation set (the default model's split) that has
a mask, the heatmap (per-pixel mean P(tampered) of the tiles covering it) is compared with the
mask: the pixel-level ROC AUC (0.5 = no better than chance at telling tampered pixels from the
rest of the same image), and the mean heatmap inside vs outside the mask. Prints medians and
the share of images with AUC above 0.5 and 0.7.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forensic_viewer.core.ela import ela_difference  # noqa: E402
from forensic_viewer.core.images import load_image  # noqa: E402
from forensic_viewer.ml import data  # noqa: E402
from forensic_viewer.ml.metrics import roc_auc  # noqa: E402
from forensic_viewer.ml.modelfile import default_model_path, load_model  # noqa: E402
from forensic_viewer.ml.predict import Predictor  # noqa: E402

CASIA = ROOT.parent / "shared" / "datasets" / "casia1"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(default_model_path()))
    parser.add_argument("--dataset", default=str(CASIA))
    parser.add_argument("--split", choices=("val", "all"), default="val")
    args = parser.parse_args()
    loaded = load_model(args.model)
    split_info = loaded.card.training.get("split", {})
    dataset = data.scan_dataset(args.dataset)
    samples = dataset.samples
    if args.split == "val":
        samples = data.split_dataset(
            dataset, split_info.get("val_fraction", 0.2), split_info.get("seed", 0)
        ).val
    predictor = Predictor(loaded)
    aucs, inside, outside, ela_aucs = [], [], [], []
    for sample in samples:
        if sample.label != data.TAMPERED or sample.mask is None:
            continue
        pixels = load_image(sample.path).pixels
        with Image.open(sample.mask) as mask_image:
            mask = np.asarray(mask_image.convert("L")) > 127
        if mask.shape != pixels.shape[:2] or mask.all() or not mask.any():
            continue
        heat = predictor.heatmap(pixels).upsample()
        aucs.append(roc_auc(mask.ravel().astype(int), heat.ravel()))
        # reference: the plain ELA (q90, largest channel) averaged over 8 x 8 JPEG blocks
        diff = ela_difference(pixels, 90).max(axis=2).astype(np.float32)
        h, w = (diff.shape[0] // 8) * 8, (diff.shape[1] // 8) * 8
        blocks = diff[:h, :w].reshape(h // 8, 8, w // 8, 8).mean(axis=(1, 3))
        ela_aucs.append(roc_auc(mask[:h:8, :w:8].ravel().astype(int), blocks.ravel()))
        inside.append(float(heat[mask].mean()))
        outside.append(float(heat[~mask].mean()))
    aucs_array = np.array(aucs)
    print(f"model {loaded.card.name}, {len(aucs)} tampered images with masks ({args.split})")
    print(f"pixel ROC AUC, heatmap vs mask: median {statistics.median(aucs):.3f}")
    print(f"  images with AUC > 0.5: {np.mean(aucs_array > 0.5):.0%}, > 0.7: "
          f"{np.mean(aucs_array > 0.7):.0%}")  # fmt: skip
    ela_median, ela_above = statistics.median(ela_aucs), np.mean(np.array(ela_aucs) > 0.5)
    print(f"reference, plain ELA q90 per 8x8 block vs mask: median AUC {ela_median:.3f}, "
          f"> 0.5: {ela_above:.0%}")  # fmt: skip
    print(f"mean heatmap inside the mask {statistics.median(inside):.3f}, outside "
          f"{statistics.median(outside):.3f} (medians over images)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
