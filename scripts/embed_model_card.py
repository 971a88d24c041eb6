"""Convert a two-file model (NAME.safetensors + NAME.json) into the single-file format.

    .venv/bin/python scripts/embed_model_card.py models/default.safetensors

The card moves into the safetensors header's metadata (``modelformat.CARD_KEY``) and its
``weights_sha256`` becomes the SHA-256 of the tensor data section. The tensor data is copied
byte for byte (checked here, with the old card's hash of the old file checked first); the new
file replaces the old one in one rename, then NAME.json is removed. The app itself never
converts: it reads old models as they are.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forensic_viewer.core.atomic import atomic_write_bytes  # noqa: E402
from forensic_viewer.core.jsonout import dumps  # noqa: E402
from forensic_viewer.ml import modelformat  # noqa: E402
from forensic_viewer.ml.modelfile import load_model  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path)
    weights = parser.parse_args().weights
    card_path = weights.with_suffix(".json")
    old = weights.read_bytes()
    card = json.loads(card_path.read_text(encoding="utf-8"))
    if hashlib.sha256(old).hexdigest() != card["weights_sha256"]:
        sys.exit(f"{weights}: does not match the SHA-256 in {card_path.name}; not converted")
    before = load_model(weights)
    header = modelformat.parse_header(weights, old, len(old))
    tensor_data = old[header.data_start :]
    card["weights_sha256"] = hashlib.sha256(tensor_data).hexdigest()
    text = dumps(card, ensure_ascii=False)
    new = modelformat.with_metadata(weights, old, {modelformat.CARD_KEY: text})
    new_header = modelformat.parse_header(weights, new, len(new))
    assert new[new_header.data_start :] == tensor_data  # the weights, byte for byte
    atomic_write_bytes(weights, new)
    card_path.unlink()
    after = load_model(weights)
    assert after.card == before.card.__class__.from_dict(card)
    for key, tensor in before.model.state_dict().items():
        assert after.model.state_dict()[key].equal(tensor), key
    old_hash, new_hash = hashlib.sha256(old).hexdigest(), hashlib.sha256(new).hexdigest()
    print(f"{weights}: {len(old):,} -> {len(new):,} bytes")
    print(f"tensor data SHA-256 {card['weights_sha256']} (the card's weights_sha256)")
    print(f"old file SHA-256 {old_hash}; new file SHA-256 {new_hash}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
