"""Every model of the course. Each exposes ``loss(batch) -> (loss, metrics)`` for :func:`companion.fit`."""

from .autoencoders import DenseAutoencoder, check_batch, mlp
from .linear import PCA

__all__ = ["PCA", "DenseAutoencoder", "check_batch", "mlp"]
