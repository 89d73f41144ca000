"""What :func:`companion.fit` watches while it trains: the recorded batches, the history, early stopping,
divergence.

``fit`` measures one batch in :data:`MONITOR_EVERY` where measuring costs work (``_accumulate``);
:class:`History` is what ``fit`` returns; :class:`EarlyStopping` decides when the
monitored loss has stopped improving; the guard keeps the model and optimizer as
they were at the start of each epoch and puts them back before any error (a NaN
loss, an exploding parameter, an interrupt) leaves ``fit``, so training never
leaves a model corrupted.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from torch import nn

#: A parameter beyond this magnitude means training has exploded, even while still finite.
MAX_PARAMETER = 1e6


#: where measuring costs work of its own, fit measures one batch in MONITOR_EVERY (see monitored_batches):
#: a metric given as a callable (e.g. PCD's reconstruction error) and the loss of a model that takes
#: ``monitor`` (see :class:`companion.train.Trainable`)
MONITOR_EVERY = 10


def monitored_batches(n_batches: int) -> range:
    """The batches of an epoch of ``n_batches`` that ``fit`` measures where measuring costs work.

    Every :data:`MONITOR_EVERY`-th, starting halfway into the first ten (5, 15, 25, ...), or
    the middle batch of a shorter epoch: each stands for the ten around it, so their mean
    follows the epoch's mean (batch 0 would stand for the untrained start of the epoch).
    """
    return range(min(MONITOR_EVERY // 2, (n_batches - 1) // 2), n_batches, MONITOR_EVERY)


def _accumulate(totals: dict, weights: dict, loss, metrics: dict, size: int, device, monitored: bool = True
                ) -> None:
    """Add a batch's size-weighted loss and metrics to ``totals`` (on the device: no sync).

    A metric given as a zero-argument callable is evaluated only when ``monitored``; ``weights``
    holds each key's total weight, so such a metric is the mean over the batches that measured it.
    """
    for key, value in {"loss": loss, **metrics}.items():
        if callable(value):
            if not monitored:
                continue
            value = value()
        value = torch.as_tensor(value, device=device).detach().float() * size
        totals[key] = totals[key] + value if key in totals else value
        weights[key] = weights.get(key, 0) + size


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite, or a parameter exceeded :data:`MAX_PARAMETER` in magnitude;
    the model was restored to its last good state."""


@dataclass
class History:
    """What :func:`fit` records, one value per epoch.

    Attributes
    ----------
    history : dict[str, list[float]]
        ``"loss"``, every metric the model reports, and the same with a
        ``"val_"`` prefix when validation data were given (as in Keras).
    best_epoch : int or None
        Index of the epoch with the best monitored value.
    stopped_early : bool
        Whether early stopping ended training before ``epochs``.
    seconds : float
        Wall time of the whole fit.
    device : str
        The device the model was trained on.
    """

    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int | None = None
    stopped_early: bool = False
    seconds: float = 0.0
    device: str = "cpu"

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    @property
    def epochs(self) -> int:
        return len(self.history.get("loss", []))

    def last(self, key: str = "loss") -> float:
        return self.history[key][-1]

    def append(self, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.history.setdefault(key, []).append(float(value))


@dataclass
class EarlyStopping:
    """Stop when the monitored value has not improved by ``min_delta`` for ``patience`` epochs.

    ``patience=None`` never stops but still tracks the best epoch. With
    ``restore_best_weights`` the best epoch's parameters are kept and put back by
    :meth:`restore_best`.
    """

    patience: int | None = None
    min_delta: float = 0.0
    restore_best_weights: bool = True
    best: float = math.inf
    best_epoch: int | None = None
    wait: int = 0
    best_state: dict | None = field(default=None, repr=False)

    def update(self, value: float, epoch: int, model: nn.Module) -> bool:
        """Record epoch ``epoch``'s value; True when training should stop."""
        if value < self.best - self.min_delta:
            self.best, self.wait, self.best_epoch = value, 0, epoch
            if self.patience is not None and self.restore_best_weights:
                self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.wait += 1
        return self.patience is not None and self.wait >= self.patience

    def restore_best(self, model: nn.Module) -> None:
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


class _Guard:
    """The divergence guard: the model and optimizer as they were at the start of the epoch, put back
    before any error (a NaN loss, an exploding parameter, an interrupt) leaves ``fit``."""

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, X: torch.Tensor):
        self.model, self.opt, self.X = model, opt, X
        self.start(0)

    def start(self, epoch: int) -> None:
        self.epoch = epoch
        self.model_state = copy.deepcopy(self.model.state_dict())
        self.opt_state = copy.deepcopy(self.opt.state_dict())
        # training state kept out of the state_dict (an RBM's persistent chains, its running mean activity)
        persistent = self.model_state.keys()
        self.transient = {name: b.detach().clone() for name, b in self.model.named_buffers() if name not in persistent}

    def restore(self) -> None:
        self.model.load_state_dict(self.model_state)
        self.opt.load_state_dict(self.opt_state)
        for name, buffer in self.transient.items():
            owner, _, attr = name.rpartition(".")
            setattr(self.model.get_submodule(owner), attr, buffer.clone())

    def restore_after(self, error: Exception) -> None:
        """Put the epoch's start back after ``error`` left ``fit``; a diverged parameter makes it a TrainingDiverged.

        ``fit`` measures a model that takes ``monitor`` on one batch in ten, so parameters can go
        non-finite between two checks, and a sampler fed NaN probabilities fails with an error of
        its own (``torch.multinomial``'s); this names the cause instead.
        """
        if isinstance(error, TrainingDiverged):
            return  # raised by this guard, which restored the model already
        worst, name = self._worst_parameter()
        self.restore()
        if not (math.isfinite(worst) and worst <= MAX_PARAMETER):
            raise self._diverged(name, worst) from error

    def diverged_loss(self, loss, step: int) -> None:
        self.restore()
        raise TrainingDiverged(
            f"the loss became {float(torch.as_tensor(loss).detach())} at epoch {self.epoch + 1}, batch {step + 1}; "
            "the model was restored to its parameters at the start of that epoch. " + _likely_cause(self.opt, self.X)
        )

    def check_parameters(self) -> None:
        """Restore and raise when a parameter is non-finite or beyond :data:`MAX_PARAMETER`."""
        worst, name = self._worst_parameter()
        if math.isfinite(worst) and worst <= MAX_PARAMETER:
            return
        self.restore()
        raise self._diverged(name, worst)

    def _worst_parameter(self) -> tuple[float, str]:
        """The largest magnitude among the parameters (inf or nan once one is non-finite) and its name."""
        worst, name = 0.0, ""
        with torch.no_grad():
            for key, p in self.model.named_parameters():
                size = p.detach().abs().max().item() if p.numel() else 0.0
                if not math.isfinite(size) or size > worst:
                    worst, name = size, key
                    if not math.isfinite(size):
                        break
        return worst, name

    def _diverged(self, name: str, worst: float) -> TrainingDiverged:
        return TrainingDiverged(
            f"training diverged in epoch {self.epoch + 1}: parameter {name!r} reached {worst:.3g} (the limit is "
            f"{MAX_PARAMETER:g}); the model was restored to its parameters at the start of that epoch. "
            + _likely_cause(self.opt, self.X))


def _likely_cause(opt, X: torch.Tensor) -> str:
    """What most likely made training diverge, from the learning rate and the data's scale."""
    causes = []
    lr = max((g.get("lr", 0.0) for g in opt.param_groups), default=0.0)
    if lr >= 1.0:
        causes.append(f"the learning rate {lr:g} is large for this model: lower it (1e-3 for Adam, 0.01-0.1 for SGD)")
    scale = X.detach().abs().max().item() if X.is_floating_point() and X.numel() else 0.0
    if scale > 1e3:
        causes.append(f"the data reach {scale:.3g} in magnitude: standardize them (or divide pixels by 255)")
    return ("Likely cause: " + "; ".join(causes) + "." if causes else
            "Lower the learning rate, clip gradients (clip_grad_norm=1.0) or check the data for extreme values.")
