"""The classic ELA CNN (Keras, CASIA v2), ported to PyTorch layer for layer.

    Conv2D(32, 5x5, valid, relu) -> Conv2D(32, 5x5, valid, relu) -> MaxPool 2x2 -> Dropout 0.25
    -> Flatten -> Dense 256 relu -> Dropout 0.5 -> Dense 2 (softmax)

29,520,034 parameters for a 3 x 128 x 128 input. Class order: index 0 = authentic,
index 1 = tampered (the Keras notebook used the opposite; we document ours everywhere).
Keras flattens NHWC and PyTorch NCHW, so importing Keras Dense weights would need a permutation.
"""

from __future__ import annotations

import torch
from torch import nn

ARCHITECTURE = "ElaCnn"
ARCHITECTURE_VERSION = 1
CLASS_NAMES = ("authentic", "tampered")
TAMPERED_INDEX = 1
INPUT_SIZE = 128
EXPECTED_PARAMETERS = 29_520_034


class ElaCnn(nn.Module):
    """Outputs logits; softmax(logits)[:, 1] is P(tampered)."""

    def __init__(self, input_size: int = INPUT_SIZE, in_channels: int = 3) -> None:
        super().__init__()
        self.input_size = input_size
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, kernel_size=5),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, kernel_size=5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Dropout(0.25),
        )
        side = (input_size - 8) // 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(32 * side * side, 256),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(256, 2),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Keras defaults: Glorot-uniform kernels, zero biases."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def p_tampered(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """P(tampered) from logits, with optional temperature scaling (calibration)."""
    return torch.softmax(logits.float() / temperature, dim=1)[:, TAMPERED_INDEX]
