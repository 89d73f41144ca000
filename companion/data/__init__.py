"""Data sets with offline defaults: MNIST, 8x8 digits and synthetic examples."""

from .idx import IdxFormatError, read_idx, write_idx
from .mnist import DataNotFoundError, Source, find_idx_dir, mnist, resolve_source
from .synthetic import digits, manifold_1d, redundant_features, standardize

__all__ = [
    "DataNotFoundError",
    "IdxFormatError",
    "Source",
    "digits",
    "find_idx_dir",
    "manifold_1d",
    "mnist",
    "read_idx",
    "redundant_features",
    "resolve_source",
    "standardize",
    "write_idx",
]
