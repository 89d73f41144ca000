"""Every model of the course. Each exposes ``loss(batch) -> (loss, metrics)`` for :func:`companion.fit`."""

from .autoencoders import (
    Autoencoder,
    DeepAutoencoder,
    DenseAutoencoder,
    check_batch,
    code_numel,
    layer_shapes,
    mlp,
)
from .linear import PCA

__all__ = [
    "Autoencoder",
    "DeepAutoencoder",
    "DenseAutoencoder",
    "PCA",
    "check_batch",
    "code_numel",
    "layer_shapes",
    "mlp",
]
