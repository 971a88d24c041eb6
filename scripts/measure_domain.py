"""Print the domain (``ml.verdict.Domain``) of a labelled folder, or of its validation split.

    python scripts/measure_domain.py ../shared/datasets/casia1 --split val --val-fraction 0.2 \
        --seed 0 --validated-on "CASIA v1 validation split"

The default model's card (models/default.json, ``domain``) was made with exactly that command:
the split is the one its training used (by group_id, 20%, seed 0), so the domain is the range of
files its validation numbers were measured on.
"""

from __future__ import annotations

import argparse
import json

from forensic_viewer.core.images import load_image
from forensic_viewer.ml.data import scan_dataset, split_dataset
from forensic_viewer.ml.domain import measure_domain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--split", choices=("all", "train", "val"), default="val")
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--validated-on", default="")
    args = parser.parse_args()
    dataset = scan_dataset(args.folder)
    samples = dataset.samples
    if args.split != "all":
        split = split_dataset(dataset, args.val_fraction, args.seed)
        samples = split.val if args.split == "val" else split.train
    domain = measure_domain((load_image(s.path).facts for s in samples), args.validated_on)
    print(json.dumps(domain.as_dict(), indent=2))


if __name__ == "__main__":
    main()
