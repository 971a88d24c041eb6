"""Stress test of a model: verdicts on validation photos after a plain re-save (no tampering).

.venv/bin/python scripts/resave_check.py models/default.safetensors
"""

import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from forensic_viewer.core.images import load_image
from forensic_viewer.ml.data import scan_dataset, split_dataset
from forensic_viewer.ml.modelfile import load_model
from forensic_viewer.ml.predict import Predictor

model = sys.argv[1]
loaded = load_model(model)
pred = Predictor(loaded)
ds = scan_dataset(str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "casia1"))
sp = split_dataset(ds, 0.2, 0)
auth = [s for s in sp.val if s.label == 0]
tamp = [s for s in sp.val if s.label == 1]
out = {}


def flagged(samples, transform):
    f = 0
    for s in samples:
        px = transform(load_image(s.path).pixels)
        f += pred.predict(px).label == "tampered"
    return f / len(samples)


def resave(q, sub=None):
    def t(px):
        b = io.BytesIO()
        kw = {} if sub is None else {"subsampling": sub}
        Image.fromarray(px).save(b, "JPEG", quality=q, **kw)
        return np.asarray(Image.open(b).convert("RGB"))

    return t


out["authentic_as_is"] = flagged(auth, lambda p: p)
for q in (75, 85, 95):
    out[f"authentic_resaved_q{q}"] = flagged(auth, resave(q))
out["tampered_as_is_detected"] = flagged(tamp, lambda p: p)
out["tampered_resaved_q90_detected"] = flagged(tamp, resave(90))
out["n_auth"], out["n_tamp"] = len(auth), len(tamp)
print(json.dumps(out, indent=1))
