"""Print the domain (``ml.domain.Domain``) the detection benchmark validates a model on.

    .venv/bin/python scripts/localiser_domain.py > /tmp/domain.json
    .venv/bin/python scripts/set_model_domain.py models/localiser.safetensors /tmp/domain.json

The domain is the smallest one holding every file of the benchmark's suite (bench/detection.py
with its defaults): generated pairs, untouched originals, re-saves and messenger copies of the
held-out camera makes, and the CASIA v1 validation split as is and re-saved at q75 and q90. Those
are the files the localiser's numbers in docs/model-card.md were measured on, so the verdict
stays "inconclusive" on a file unlike all of them (an IJG save below the suite's lowest quality,
a size outside its range, a PNG).

With ``--false-alarms MODEL`` it also measures the model's false alarms just outside that domain
(``false_alarms_outside``): every held-out original re-saved whole at IJG q50 and q60 (4:2:0),
innocent files the verdict will call inconclusive, scored anyway.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "datasets"

from forensic_viewer.core.jsonout import dumps  # noqa: E402
from forensic_viewer.ml.domain import domain_of_files  # noqa: E402
from forensic_viewer.ml.suite import (  # noqa: E402
    HELD_OUT_MAKES,
    SuiteParams,
    build_suite_iter,
    load_suite,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", default=str(SHARED / "camera-originals"))
    parser.add_argument("--casia", default=str(SHARED / "casia1"))
    parser.add_argument("--false-alarms", metavar="MODEL", help="a localiser model file")
    args = parser.parse_args()
    params = SuiteParams(photos=args.photos, casia=args.casia)
    for _ in build_suite_iter(params):  # a no-op when the suite is cached
        pass
    items = load_suite(params)
    makes = ", ".join(HELD_OUT_MAKES)
    validated_on = (
        f"detection suite ({len(items)} files): generated pairs, originals, re-saves and "
        f"messenger copies of held-out makes {makes}; CASIA v1 validation split as is and "
        "re-saved at q75/q90"
    )
    domain = domain_of_files([item.file for item in items], validated_on)
    if args.false_alarms:
        domain["false_alarms_outside"] = false_alarms_below(args.false_alarms, args.photos)
    print(dumps(domain, indent=2))
    return 0


def false_alarms_below(model: str, photos: str, qualities=(50, 60)) -> list[dict]:
    import io

    from PIL import Image

    from forensic_viewer.ml.localiser_predict import LocaliserScorer
    from forensic_viewer.ml.suite import held_out_photos
    from forensic_viewer.ml.synthetic import find_photos

    scorer = LocaliserScorer(model)
    out = []
    chosen = held_out_photos(find_photos(photos))
    for quality in qualities:
        flagged = 0
        for photo in chosen:
            with Image.open(photo.path) as image:
                rgb = image.convert("RGB")
            buffer = io.BytesIO()
            rgb.save(buffer, "JPEG", quality=quality, subsampling=2)
            result = scorer.score(buffer.getvalue(), want_map=False)
            flagged += int(result.p is not None and result.p >= scorer.threshold)
        out.append({"images": f"untouched originals of the held-out makes re-saved whole at IJG "
                              f"q{quality} ({scorer.predictor.precision})",
                    "flagged": flagged, "of": len(chosen)})  # fmt: skip
        print(f"q{quality}: {flagged} of {len(chosen)} flagged", file=sys.stderr)
    return out


if __name__ == "__main__":
    sys.exit(main())
