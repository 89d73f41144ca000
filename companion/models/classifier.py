"""A feed-forward classifier that :func:`companion.fit` can train: an ``nn.Sequential`` with a loss.

:meth:`companion.models.DBN.to_classifier` returns one initialised from a deep
belief network's recognition weights; :meth:`Classifier.mlp` builds the same
architecture from a random start, for the pretrained-vs-random ablation.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_batch, number
from ..utils import batched_apply
from .autoencoders import activation as _activation


def one_hot(y: torch.Tensor, n_labels: int, dtype=torch.float32) -> torch.Tensor:
    """(N,) integer labels -> (N, n_labels) rows of zeros with a one at the label."""
    return F.one_hot(y.long(), n_labels).to(dtype)


def check_labels(y, n_labels: int, n_rows: int | None = None) -> torch.Tensor:
    """``y`` as a 1-D int64 tensor in ``[0, n_labels)``, or a clear error."""
    y = torch.as_tensor(y)
    if y.ndim != 1 or y.dtype.is_floating_point or y.dtype == torch.bool:
        raise ValueError(f"labels must be a 1-D array of integers, got shape {tuple(y.shape)} and {y.dtype}.")
    if n_rows is not None and len(y) != n_rows:
        raise ValueError(f"{len(y)} labels for {n_rows} rows of data.")
    if len(y) and (y.min() < 0 or y.max() >= n_labels):
        raise ValueError(f"labels must lie in [0, {n_labels}), found [{y.min().item()}, {y.max().item()}]; "
                         "map them to 0..n_labels-1 first.")
    return y.long()


class Classifier(nn.Sequential):
    """``nn.Sequential`` of layers ending in class logits, with ``loss((X, y))`` for ``fit``.

    The loss is the mean cross-entropy :math:`-\\frac1N\\sum_n \\log
    \\operatorname{softmax}(f(x_n))_{y_n}`; the metrics are ``error`` (the
    fraction misclassified) and ``accuracy``. The first module must be an
    ``nn.Linear``, or an ``nn.Dropout`` followed by one (its ``in_features``
    is the input width checked on every batch); the last ``nn.Linear``'s
    output is the number of classes.
    """

    supports_amp = True

    def __init__(self, *layers: nn.Module):
        super().__init__(*layers)
        linears = [m for m in self if isinstance(m, nn.Linear)]
        start = 1 if isinstance(self[0], nn.Dropout) and len(self) > 1 else 0
        if not linears or not isinstance(self[start], nn.Linear):
            raise ValueError("Classifier: the first layer must be an nn.Linear (an nn.Dropout may come before it).")
        self.n_inputs, self.n_classes = linears[0].in_features, linears[-1].out_features

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the weights (that of the first ``nn.Linear``); inputs are converted to it."""
        return next(m for m in self if isinstance(m, nn.Linear)).weight.dtype

    @classmethod
    def mlp(cls, sizes: Sequence[int], n_classes: int, activation: str = "sigmoid", dropout: float = 0.0,
            input_dropout: float = 0.0) -> "Classifier":
        """A randomly initialised ``sizes[0] -> ... -> sizes[-1] -> n_classes`` network (PyTorch's default init).

        ``input_dropout`` > 0 puts an ``nn.Dropout`` before the first layer and
        ``dropout`` > 0 one after every hidden layer: while the module trains
        that fraction of the input or hidden units is zeroed afresh for every
        example (and the rest scaled up to keep the mean; Hinton et al. 2012).
        In ``eval()`` mode a dropout layer is the identity.
        """
        sizes = [int(s) for s in sizes]
        if len(sizes) < 1 or any(s < 1 for s in sizes) or n_classes < 2:
            raise ValueError(f"sizes={sizes}, n_classes={n_classes}: need positive widths and at least 2 classes.")
        input_dropout = number(input_dropout, "input_dropout", 0, 1, high_open=True)
        dropout = number(dropout, "dropout", 0, 1, high_open=True)
        widths = [*sizes, n_classes]
        layers: list[nn.Module] = [nn.Dropout(input_dropout)] if input_dropout else []
        for i in range(len(sizes)):
            if i and dropout:
                layers.append(nn.Dropout(dropout))
            layers.append(nn.Linear(widths[i], widths[i + 1]))
            if i < len(sizes) - 1:  # the last layer gives logits
                layers.append(_activation(activation))
        return cls(*layers)

    def check_data(self, X: torch.Tensor) -> None:
        check_batch(X, self.n_inputs, type(self).__name__, values=True)

    def check_labels(self, y: torch.Tensor) -> None:
        """Integer labels in ``[0, n_classes)``, one per example."""
        check_labels(y, self.n_classes)

    def loss(self, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Cross-entropy of ``batch = (X, y)``; X (N, n_inputs), y (N,) integer labels."""
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError("Classifier.loss needs (X, y): call fit(model, (X, y)).")
        x, y = batch
        check_batch(x, self.n_inputs, type(self).__name__, values=False)
        if y.device.type == "cpu":
            self.check_labels(y)
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        with torch.no_grad():
            error = (logits.argmax(1) != y).float().mean()
        return loss, {"error": error, "accuracy": 1 - error}

    @torch.no_grad()
    def predict_proba(self, X: torch.Tensor) -> torch.Tensor:
        """Class probabilities, shape (N, n_classes), on the CPU."""
        X = torch.as_tensor(X, dtype=self.dtype)
        self.check_data(X)
        return batched_apply(self, lambda x: torch.softmax(self(x), 1), X)

    @torch.no_grad()
    def predict(self, X: torch.Tensor) -> torch.Tensor:
        """The most probable class of each row, shape (N,)."""
        return self.predict_proba(X).argmax(1)

    def error_rate(self, X: torch.Tensor, y: torch.Tensor) -> float:
        """Fraction of rows of X whose predicted class differs from y."""
        return (self.predict(X) != torch.as_tensor(y).cpu()).float().mean().item()
