"""Training FLOP per image of a keras model, counted from its layers' shapes.

Every layer with a ``kernel`` (Dense, Conv2D, Conv2DTranspose) costs 2 FLOP (a multiply and an
add) per kernel weight per position it is applied at: once for a Dense layer on a flat input, at
every output pixel for a convolution, at every input pixel for a transposed one. Training costs 3
times the forward pass: the forward product, the gradient with respect to the layer's input and
the one with respect to its kernel, each the same size (the usual count, e.g. Kaplan et al. 2020).
Biases, activations, the impulse mask and Adam's update are elementwise, O(1) per value, and left
out: under 1 % of the residual net's products.
"""

from __future__ import annotations

import math

#: Training FLOP per forward FLOP: the forward pass, the input gradient, the kernel gradient.
TRAINING_PASSES = 3


def positions(layer) -> int:
    """Where ``layer``'s kernel is applied for one image: the pixels of the output of a
    convolution, of the input of a transposed one, and 1 for a Dense layer on a flat input."""
    if type(layer).__name__ == "Conv2DTranspose":
        shape = layer.input.shape
    else:
        shape = layer.output.shape
    return math.prod(shape[1:-1]) if len(shape) > 2 else 1


def forward_flops(model) -> int:
    """FLOP of one image's forward pass through ``model``'s kernels (2 per multiply-add)."""
    return sum(2 * math.prod(layer.kernel.shape) * positions(layer) for layer in model.layers if hasattr(layer, "kernel"))


def training_flops(model) -> int:
    """FLOP of one training image: :data:`TRAINING_PASSES` times :func:`forward_flops`."""
    return TRAINING_PASSES * forward_flops(model)
