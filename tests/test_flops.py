"""bench/flops.py: training FLOP per image counted from layer shapes, against hand-computed counts."""

import importlib.util
from pathlib import Path

import pytest

from renoise.science import models

_SPEC = importlib.util.spec_from_file_location("flops", Path(__file__).parents[1] / "bench" / "flops.py")
flops = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(flops)

PIXELS = 28 * 28


def test_the_residual_nets_count_is_its_convolutions_by_hand():
    """Five 3x3 layers of 16 filters on the image and its mask (2 channels in), then a 3x3 head on
    the 16 features and both inputs (18 channels): 2 FLOP a weight at each of the 784 pixels, x 3."""
    forward = 2 * PIXELS * 9 * (2 * 16 + 4 * 16 * 16 + 18 * 1)
    assert flops.training_flops(models.build_autoencoder("residual")) == 3 * forward == 45_468_864
    seven_by_32 = 2 * PIXELS * 9 * (2 * 32 + 6 * 32 * 32 + 34 * 1)  # the former default
    assert flops.training_flops(models.build_autoencoder("residual", hidden=[32] * 7)) == 3 * seven_by_32 == 264_261_312


@pytest.mark.parametrize("architecture, forward", [
    ("dense", 2 * 2 * (784 * 1024 + 1024 * 529 + 529 * 256 + 256 * 36)),  # encoder and its mirror
    # 28 -> 14 -> 7 (strided, at their outputs), 7 -> 14 -> 28 (transposed, at their inputs), 3x3 head at 28x28
    ("conv", 2 * 9 * (14 * 14 * 1 * 32 + 7 * 7 * 32 * 64 + 7 * 7 * 64 * 64 + 14 * 14 * 64 * 32 + PIXELS * 32 * 1)),
])
def test_dense_and_strided_counts_by_hand(architecture, forward):
    """Dense layers count once per image; a transposed convolution at its input's pixels."""
    assert flops.forward_flops(models.build_autoencoder(architecture)) == forward
