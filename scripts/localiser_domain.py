"""Print the domain (``ml.domain.Domain``) the detection benchmark validates a model on.

    .venv/bin/python scripts/localiser_domain.py > /tmp/domain.json
    .venv/bin/python scripts/set_model_domain.py models/localiser.safetensors /tmp/domain.json

The domain is the smallest one holding every file of the benchmark's suite (bench/detection.py
with its defaults): generated pairs, untouched originals, re-saves and messenger copies of the
held-out camera makes, and the CASIA v1 validation split as is and re-saved at q75 and q90. Those
are the files the localiser's numbers in docs/model-card.md were measured on, so the verdict
stays "inconclusive" on a file unlike all of them (an IJG save below the suite's lowest quality,
a size outside its range, a PNG).
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
    print(dumps(domain_of_files([item.file for item in items], validated_on), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
