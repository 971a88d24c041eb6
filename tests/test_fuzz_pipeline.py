"""Fuzz: mutated real JPEG/PNG bytes through load_image, ELA and predict.

Only the project's typed errors may escape; whatever loads must go through ELA and the network.
Bounded (a small input network, a few dozen examples) so CI stays fast.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from conftest import casia_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from forensic_viewer.core.ela import ela
from forensic_viewer.core.errors import ImageLoadError
from forensic_viewer.core.images import load_image
from forensic_viewer.ml.model import ElaCnn
from forensic_viewer.ml.modelfile import ModelCard, load_model, save_model
from forensic_viewer.ml.predict import Predictor
from forensic_viewer.ml.preprocess import GHOST


def seeds() -> list[bytes]:
    real = casia_files("tampered", step=200)[:1]
    if real:
        photo = Image.open(real[0]).convert("RGB").crop((0, 0, 96, 64))
    else:
        rng = np.random.default_rng(5)
        photo = Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8))
    out = []
    for fmt, kwargs in (("JPEG", {"quality": 85}), ("PNG", {}), ("JPEG", {"progressive": True})):
        buffer = io.BytesIO()
        photo.save(buffer, fmt, **kwargs)
        out.append(buffer.getvalue())
    return out


SEEDS = seeds()


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    torch.manual_seed(0)
    recipe = {**GHOST.as_dict(), "size": 32, "tile_stride": 32}
    path = save_model(
        tmp_path_factory.mktemp("m") / "fuzz",
        ElaCnn(input_size=32),
        ModelCard(name="fuzz", recipe=recipe),
    )
    return Predictor(load_model(path))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.sampled_from(range(len(SEEDS))),
    edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 1 << 16),
)
def test_mutated_bytes_through_load_ela_and_predict(tmp_path, predictor, seed, edits, cut):
    data = bytearray(SEEDS[seed])
    for position, value in edits:
        data[position % len(data)] = value
    data = data[: max(1, len(data) - cut % len(data))]
    path = tmp_path / "fuzz.img"
    path.write_bytes(bytes(data))
    try:
        loaded = load_image(path)
    except ImageLoadError as exc:
        assert str(exc).startswith("fuzz.img: ")
        return
    assert ela(loaded.pixels, 90).diff.shape == loaded.pixels.shape
    verdict = predictor.predict(loaded.pixels)
    assert 0.0 <= verdict.p_tampered <= 1.0
    assert verdict.label in ("authentic", "tampered")
