"""The shipped default model: intact, and it still scores its validation split as its card says.

Guards against drift between the model and the input pipeline (a change to the ghost recipe's
ELA rendering would silently change every verdict).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from conftest import CASIA, needs_casia

from forensic_viewer.core.images import load_image
from forensic_viewer.ml import data, scoring
from forensic_viewer.ml.modelfile import default_model_path, load_model
from forensic_viewer.ml.predict import Predictor

pytestmark = pytest.mark.skipif(default_model_path() is None, reason="no shipped default model")


def test_weights_match_the_card():
    path = default_model_path()
    loaded = load_model(path)
    data = path.read_bytes()
    tensor_data = data[8 + int.from_bytes(data[:8], "little") :]  # the card is in the header
    assert hashlib.sha256(tensor_data).hexdigest() == loaded.card.weights_sha256
    assert loaded.card_path == path and not path.with_suffix(".json").exists()
    assert loaded.card.name == "default" and loaded.recipe.name == "ghost"
    assert sum(p.numel() for p in loaded.model.parameters()) == 29_520_034


@needs_casia
@pytest.mark.slow
def test_validation_split_reproduces_the_card():
    loaded = load_model(default_model_path())
    split_card = loaded.card.training["split"]
    dataset = data.scan_dataset(CASIA)
    split = data.split_dataset(dataset, split_card["val_fraction"], split_card["seed"])
    assert len(split.val) == loaded.card.metrics["validation"]["count"]
    report = scoring.evaluate(loaded, split.val, device="cpu")  # the card was measured on the CPU
    card = loaded.card.metrics["validation"]
    assert report["confusion_matrix"] == card["confusion_matrix"]
    assert report["roc_auc"] == pytest.approx(card["roc_auc"], abs=2e-3)
    # the viewer's path (Predictor, tile budget) gives the same verdicts on a sample of them
    predictor = Predictor(loaded)
    sample = split.val[::29]
    labels = [predictor.predict(load_image(s.path).pixels).label for s in sample]
    assert labels == [["authentic", "tampered"][s.label] for s in sample]
    assert np.mean([s.label for s in sample]) not in (0.0, 1.0)  # both classes in the sample
