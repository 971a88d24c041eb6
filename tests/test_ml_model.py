"""ElaCnn is the classic Keras network layer for layer: sizes, shapes, initialisation, classes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from forensic_viewer.ml.model import (
    CLASS_NAMES,
    EXPECTED_PARAMETERS,
    TAMPERED_INDEX,
    ElaCnn,
    count_parameters,
    p_tampered,
)


@pytest.fixture(scope="module")
def model() -> ElaCnn:
    torch.manual_seed(1234)
    return ElaCnn()


def test_total_parameter_count_is_the_keras_summary(model):
    assert count_parameters(model) == 29_520_034
    assert EXPECTED_PARAMETERS == 29_520_034


def test_per_layer_parameter_counts(model):
    layers = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    assert [sum(p.numel() for p in layer.parameters()) for layer in layers] == [
        2_432,
        25_632,
        29_491_456,
        514,
    ]
    conv1, conv2, dense1, dense2 = layers
    assert (conv1.kernel_size, conv1.padding, conv1.out_channels) == ((5, 5), (0, 0), 32)
    assert (conv2.kernel_size, conv2.padding, conv2.out_channels) == ((5, 5), (0, 0), 32)
    assert (dense1.in_features, dense1.out_features) == (115_200, 256)
    assert (dense2.in_features, dense2.out_features) == (256, 2)


def test_layer_sequence_matches_the_classic_network(model):
    kinds = [type(m).__name__ for m in model.features] + [
        type(m).__name__ for m in model.classifier
    ]
    assert kinds == [
        "Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d", "Dropout",
        "Flatten", "Linear", "ReLU", "Dropout", "Linear",
    ]  # fmt: skip
    dropouts = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    assert dropouts == [0.25, 0.5]


def test_forward_shapes(model):
    x = torch.rand(3, 3, 128, 128)
    model.eval()
    with torch.inference_mode():
        features = model.features(x)
        logits = model(x)
    assert features.shape == (3, 32, 60, 60)  # 128 -> 124 -> 120 -> pool 60
    assert features[0].numel() == 115_200
    assert logits.shape == (3, 2)
    assert logits.dtype == torch.float32


def test_eval_is_deterministic_and_train_mode_uses_dropout(model):
    x = torch.rand(2, 3, 128, 128)
    model.eval()
    with torch.inference_mode():
        assert torch.equal(model(x), model(x))
    model.train()
    torch.manual_seed(0)
    with torch.no_grad():
        first, second = model(x), model(x)
    model.eval()
    assert not torch.equal(first, second)


@pytest.mark.parametrize(
    ("index", "fan_in", "fan_out"),
    [(0, 3 * 25, 32 * 25), (1, 32 * 25, 32 * 25), (2, 115_200, 256), (3, 256, 2)],
)
def test_glorot_uniform_weights_and_zero_biases(model, index, fan_in, fan_out):
    layer = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)][index]
    weight = layer.weight.detach().double()
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    assert weight.abs().max().item() <= limit * (1 + 1e-6)  # float32 rounding of the bound
    # Uniform(-a, a) has standard deviation a / sqrt(3); the tolerance shrinks with the sample.
    relative = 4.0 / math.sqrt(weight.numel())
    assert weight.std().item() == pytest.approx(limit / math.sqrt(3), rel=max(relative, 0.005))
    assert abs(weight.mean().item()) < 4 * limit / math.sqrt(3 * weight.numel())
    assert weight.abs().max().item() > 0.95 * limit
    assert torch.count_nonzero(layer.bias).item() == 0


def test_class_order_index_one_is_tampered():
    assert CLASS_NAMES == ("authentic", "tampered")
    assert TAMPERED_INDEX == 1
    logits = torch.tensor([[0.0, math.log(3.0)], [math.log(3.0), 0.0]])
    assert p_tampered(logits).tolist() == pytest.approx([0.75, 0.25], abs=1e-7)
    # Temperature 2 halves the logits: p = sqrt(3) / (1 + sqrt(3)).
    expected = math.sqrt(3.0) / (1.0 + math.sqrt(3.0))
    assert p_tampered(logits, temperature=2.0)[0].item() == pytest.approx(expected, abs=1e-7)


def test_smaller_input_sizes_build_matching_dense_layers():
    small = ElaCnn(input_size=64)
    assert small.classifier[1].in_features == 32 * 28 * 28
    with torch.inference_mode():
        assert small.eval()(torch.rand(1, 3, 64, 64)).shape == (1, 2)
