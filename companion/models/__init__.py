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
from .conv import ConvAutoencoder, SourceConvAutoencoder
from .linear import PCA
from .rbm import BernoulliRBM
from .vae import VAE

__all__ = [
    "Autoencoder",
    "BernoulliRBM",
    "ConvAutoencoder",
    "DeepAutoencoder",
    "DenseAutoencoder",
    "PCA",
    "SourceConvAutoencoder",
    "VAE",
    "check_batch",
    "code_numel",
    "layer_shapes",
    "mlp",
]
