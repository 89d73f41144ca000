"""companion: the models, trainers and data of the course
"Autoencoders, Boltzmann Machines and Deep Belief Networks".

>>> import companion as cp
>>> X, y = cp.data.mnist("train")                       # doctest: +SKIP
>>> ae = cp.models.DenseAutoencoder((784, 128, 32))     # doctest: +SKIP
>>> history = cp.fit(ae, X, epochs=5)                   # doctest: +SKIP
"""

from . import config, corrupt, data, estimate, likelihood, models, recommend, viz
from .checkpoint import CheckpointError, load, save
from .config import choose, get_device, profile, seed_everything
from .train import History, TrainingDiverged, evaluate, fit

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "History",
    "TrainingDiverged",
    "choose",
    "config",
    "corrupt",
    "data",
    "estimate",
    "evaluate",
    "fit",
    "get_device",
    "likelihood",
    "load",
    "models",
    "profile",
    "recommend",
    "save",
    "seed_everything",
    "viz",
]
