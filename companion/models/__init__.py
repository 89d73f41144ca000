"""Every model of the course. Each trainable one exposes ``loss(batch) -> (loss, metrics)`` for :func:`companion.fit`."""

from .autoencoders import (
    Autoencoder,
    DeepAutoencoder,
    DenseAutoencoder,
    check_batch,
    code_numel,
    layer_shapes,
    mlp,
)
from .boltzmann import BoltzmannMachine
from .conv import ConvAutoencoder, SourceConvAutoencoder
from .hopfield import HopfieldNetwork
from .linear import PCA
from .rbm import BernoulliRBM, GaussianHiddenRBM
from .rbm_real import GaussianBernoulliRBM, SpikeSlabRBM
from .vae import VAE

__all__ = [
    "Autoencoder",
    "BernoulliRBM",
    "BoltzmannMachine",
    "ConvAutoencoder",
    "DeepAutoencoder",
    "DenseAutoencoder",
    "GaussianBernoulliRBM",
    "GaussianHiddenRBM",
    "HopfieldNetwork",
    "PCA",
    "SourceConvAutoencoder",
    "SpikeSlabRBM",
    "VAE",
    "check_batch",
    "code_numel",
    "layer_shapes",
    "mlp",
]
