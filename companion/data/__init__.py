"""Data sets with offline defaults: MNIST, MovieLens, 8x8 digits and synthetic examples."""

from .idx import IdxFormatError, read_idx, write_idx
from .mnist import DataNotFoundError, Source, find_idx_dir, mnist, resolve_source
from .movielens import (
    GENRES,
    VERSIONS,
    MovieLensFormatError,
    movielens,
    movielens_folds,
    movielens_items,
    movielens_source,
)
from .ratings import RatingMatrix, fold_matrices, rating_matrix
from .synthetic import digits, manifold_1d, redundant_features, standardize

__all__ = [
    "DataNotFoundError",
    "GENRES",
    "IdxFormatError",
    "MovieLensFormatError",
    "RatingMatrix",
    "Source",
    "VERSIONS",
    "digits",
    "find_idx_dir",
    "fold_matrices",
    "manifold_1d",
    "mnist",
    "movielens",
    "movielens_folds",
    "movielens_items",
    "movielens_source",
    "rating_matrix",
    "read_idx",
    "redundant_features",
    "resolve_source",
    "standardize",
    "write_idx",
]
