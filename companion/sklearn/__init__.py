"""scikit-learn estimators on torch: :class:`BernoulliRBM`, a drop-in replacement for
:class:`sklearn.neural_network.BernoulliRBM`, and :class:`DBNClassifier`, a deep belief
network classifier (greedy RBM pretraining, then backpropagation)."""

from ._dbn import DBNClassifier
from ._rbm import BernoulliRBM

__all__ = ["BernoulliRBM", "DBNClassifier"]
