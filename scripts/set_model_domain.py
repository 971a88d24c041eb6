"""Write a validated domain (``ml.domain.Domain``) into a single-file model's card.

    .venv/bin/python scripts/set_model_domain.py models/default.safetensors DOMAIN.json

DOMAIN.json is a card ``domain`` object, e.g. scripts/measure_domain.py's output with
``false_alarms_outside`` filled from scripts/domain_false_alarms.py. The card in the safetensors
header is replaced (its ``weights_sha256``, the SHA-256 of the tensor data section, stays valid:
the tensor data is copied byte for byte, checked here) and the file replaced in one rename.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forensic_viewer.ml import modelformat  # noqa: E402
from forensic_viewer.ml.architectures import LOCALISER, architecture_of  # noqa: E402
from forensic_viewer.ml.domain import Domain  # noqa: E402
from forensic_viewer.ml.localiser_predict import load_localiser  # noqa: E402
from forensic_viewer.ml.modelfile import load_model  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("domain", type=Path)
    args = parser.parse_args()
    domain = json.loads(args.domain.read_text(encoding="utf-8"))
    Domain.from_dict(domain)  # refuse a bad domain before touching the model
    # Either architecture: the card format is the same, only the loader that checks it differs.
    load = load_localiser if architecture_of(args.weights) == LOCALISER else load_model
    before = load(args.weights)
    card, _ = modelformat.read_card(args.weights)
    card["domain"] = domain
    modelformat.replace_card(args.weights, card)
    after = load(args.weights)
    assert after.card.domain == domain and after.card.weights_sha256 == before.card.weights_sha256
    print(f"{args.weights}: domain set ({Domain.from_dict(domain).describe()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
