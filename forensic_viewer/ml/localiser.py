"""The block localiser: a small fully convolutional U-Net over per-8x8-block JPEG features.

Input: ``local_features.BlockFeatures`` of one image (quantized luma DCT coefficients, DCT-domain
re-quantisation residuals, grid-phase gradients, and the luma quantization table as a per-image
bias). Output: one tamper logit per 8x8 block, in one pass over the whole image, so the map has
``ceil(H / 8) x ceil(W / 8)`` cells for an H x W image whatever its size.

The image score is pooled from the map: the mean of the top ``TOP_FRACTION`` of 3x3-smoothed
block logits (at least one block), the same differentiable pooling the image loss trains. Its
calibration (temperature, threshold) lives in the model card.

Receptive field: 61 blocks (488 px) on a side (32 rows above a block and 28 below it; measured
by a test from the gradients), so each block is judged against its neighbourhood. 316,801
parameters.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .local_features import (
    DCT_CLIP,
    DENSE_CHANNELS,
    QTABLE_CHANNELS,
    BlockFeatures,
)

ARCHITECTURE = "BlockLocaliser"
ARCHITECTURE_VERSION = 1
IN_CHANNELS = 64 + DENSE_CHANNELS
TOP_FRACTION = 0.01
WIDTHS = (32, 48, 80)
_STRIDE = 4  # two 2x downsamplings: block grids are padded to a multiple of this


def _conv(cin: int, cout: int, kernel: int = 3, stride: int = 1, dilation: int = 1) -> nn.Module:
    padding = dilation * (kernel // 2)
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class BlockLocaliser(nn.Module):
    """forward(x, qtable) -> N x 1 x rows x cols logits for N x IN_CHANNELS x rows x cols input."""

    def __init__(self, widths: tuple[int, int, int] = WIDTHS) -> None:
        super().__init__()
        w1, w2, w3 = widths
        self.stem = nn.Conv2d(IN_CHANNELS, w1, 1)
        # The table changes the meaning of every coefficient; as a per-image bias it costs one
        # small matrix product per image instead of 64 constant input channels per block.
        self.qtable_bias = nn.Linear(QTABLE_CHANNELS, w1)
        self.stem_norm = nn.Sequential(nn.BatchNorm2d(w1), nn.ReLU(inplace=True))
        self.enc1 = _conv(w1, w1)
        self.down2 = _conv(w1, w2, stride=2)
        self.enc2 = nn.Sequential(_conv(w2, w2), _conv(w2, w2, dilation=2))
        self.down3 = _conv(w2, w3, stride=2)
        self.enc3 = nn.Sequential(_conv(w3, w3), _conv(w3, w3, dilation=2), _conv(w3, w3))
        self.dec2 = nn.Sequential(_conv(w3 + w2, w2, kernel=1), _conv(w2, w2))
        self.dec1 = nn.Sequential(_conv(w2 + w1, w1, kernel=1), _conv(w1, w1))
        self.head = nn.Conv2d(w1, 1, 1)

    def forward(self, x: torch.Tensor, qtable: torch.Tensor) -> torch.Tensor:
        rows, cols = x.shape[-2:]
        pad_r, pad_c = (-rows) % _STRIDE, (-cols) % _STRIDE
        if pad_r or pad_c:
            x = F.pad(x, (0, pad_c, 0, pad_r))  # zeros, as training pads small crops
        bias = self.qtable_bias(qtable).to(x.dtype)[:, :, None, None]
        s1 = self.enc1(self.stem_norm(self.stem(x) + bias))
        s2 = self.enc2(self.down2(s1))
        s3 = self.enc3(self.down3(s2))
        up2 = F.interpolate(s3, size=s2.shape[-2:], mode="nearest")
        d2 = self.dec2(torch.cat([up2, s2], dim=1))
        up1 = F.interpolate(d2, size=s1.shape[-2:], mode="nearest")
        d1 = self.dec1(torch.cat([up1, s1], dim=1))
        return self.head(d1)[..., :rows, :cols]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def input_tensors(features: BlockFeatures) -> tuple[torch.Tensor, torch.Tensor]:
    """(1 x IN_CHANNELS x rows x cols float32, 1 x 64 table input) for one image."""
    rows, cols = features.blocks
    array = np.empty((1, rows, cols, IN_CHANNELS), np.float32)
    np.multiply(features.dct, np.float32(1.0 / DCT_CLIP), out=array[0, :, :, :64])
    array[0, :, :, 64:] = features.dense
    # N x H x W x C memory viewed as N x C x H x W: channels-last without a copy.
    x = torch.from_numpy(array).permute(0, 3, 1, 2)
    return x, qtable_input(features.qtable)[None]


def qtable_input(qtable: np.ndarray) -> torch.Tensor:
    """log2 of the table over 8: steps 1-255 map to 0-1."""
    return torch.from_numpy(np.log2(np.asarray(qtable, np.float32)) / 8.0)


def pooled_logit(logits: torch.Tensor, top_fraction: float = TOP_FRACTION) -> torch.Tensor:
    """Image logit per map (N x 1 x rows x cols -> N): mean of the top blocks, 3x3-smoothed."""
    smooth = F.avg_pool2d(logits.float(), 3, 1, 1, count_include_pad=False).flatten(1)
    k = max(1, int(round(top_fraction * smooth.shape[1])))
    return smooth.topk(k, dim=1).values.mean(dim=1)
