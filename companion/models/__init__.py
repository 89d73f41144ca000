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
from .cf import BiasBaseline, GlobalMean, MatrixFactorization
from .classifier import Classifier
from .conv import ConvAutoencoder, SourceConvAutoencoder
from .dbm import DBM
from .dbn import DBN, LabelledRBM
from .hopfield import HopfieldNetwork
from .pca import PCA
from .rbm import BernoulliRBM, GaussianHiddenRBM
from .rbm_base import RBM
from .autorec import AutoRec
from .item_rbm import ItemSoftmaxRBM
from .rbm_cf import BinaryRatingRBM, SoftmaxRBM
from .rbm_real import GaussianBernoulliRBM
from .spike_slab import SpikeSlabRBM
from .vae import VAE

__all__ = [
    "AutoRec",
    "Autoencoder",
    "BernoulliRBM",
    "BiasBaseline",
    "BinaryRatingRBM",
    "BoltzmannMachine",
    "Classifier",
    "ConvAutoencoder",
    "DBM",
    "DBN",
    "DeepAutoencoder",
    "DenseAutoencoder",
    "GaussianBernoulliRBM",
    "GaussianHiddenRBM",
    "GlobalMean",
    "HopfieldNetwork",
    "ItemSoftmaxRBM",
    "LabelledRBM",
    "MatrixFactorization",
    "PCA",
    "SoftmaxRBM",
    "SourceConvAutoencoder",
    "SpikeSlabRBM",
    "VAE",
    "check_batch",
    "code_numel",
    "layer_shapes",
    "mlp",
]
