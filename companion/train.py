"""The one training loop that every model in the course goes through.

A model only has to expose ``loss(batch) -> (loss, metrics)``: the
reconstruction error of an autoencoder, the negative ELBO of a VAE, the CD/PCD
free-energy surrogate of an RBM. :func:`fit` does the rest: device placement,
shuffled mini-batches sliced from tensors already on the device, any torch
optimizer, gradient clipping, validation, early stopping, mixed precision on
CUDA, a progress bar, and a clear error when training diverges.
"""

from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import numpy as np
import torch
from torch import nn

from .checks import as_data, model_dtype, positive_int, require_finite
from .config import get_device
from .monitor import (MAX_PARAMETER, MONITOR_EVERY, EarlyStopping, History, TrainingDiverged,  # noqa: F401
                      _accumulate, _Guard, monitored_batches)
from .utils import evaluating

#: What ``fit`` and ``evaluate`` hand to ``model.loss``: always a tuple, ``(X,)`` or ``(X, y, ...)``.
Batch = tuple[torch.Tensor, ...]


@runtime_checkable
class Trainable(Protocol):
    """The contract between a model and :func:`fit`, written down once.

    Required: ``loss(batch) -> (loss, metrics)``, where ``batch`` is a tuple of
    tensor slices (``(x,)``, or ``(x, y)`` when ``fit`` got ``(X, y)``), ``loss`` a
    scalar tensor to minimize and ``metrics`` a dict of scalars to record. In eval
    mode (validation) ``loss`` is the quantity to monitor.

    Optional, looked up with ``getattr``:

    - ``check_data(X)``: validate the whole training set once (so that ``loss``
      need not sync a GPU on every batch);
    - ``supports_amp = True``: mixed precision is safe for this model on CUDA;
    - ``index_input = True``: the first tensor holds indices, passed as given;
    - ``batch_weight(batch)``: how much a batch weighs in a mean (default its length);
    - ``loss(batch, generator=...)``: a model that samples (an RBM's chain) takes a
      ``torch.Generator`` and draws every random number from it; ``fit`` passes one seeded
      with its ``seed`` and leaves torch's global generator alone;
    - ``loss(batch, monitor=...)``: a model whose loss *value* costs work its update does not need
      (the free energies of an RBM's CD surrogate) takes a ``monitor`` flag: ``fit`` passes True on
      one batch in :data:`MONITOR_EVERY` (:func:`~companion.monitor.monitored_batches`) and False on
      the others, where the model may return its gradient with a NaN value and no metrics. The
      epoch's loss and metrics are then means over the measured batches; the divergence guard
      checks the loss there and every parameter after the epoch;
    - ``eval_loss_name = "recon"`` (or ``"mse"``, ...): the eval-mode loss is not the training
      loss (an RBM trains on a CD surrogate and is validated on its reconstruction error), but
      the metric of that name; validation then records it as ``val_<name>`` only, never as a
      ``val_loss`` that would read like the training loss, and early stopping watches it.
    """

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, Any]]: ...

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


def _as_tuple(data: Any, name: str, dtype: torch.dtype | None = None) -> tuple[torch.Tensor, ...]:
    """``X`` or ``(X, y, ...)`` as tensors; ``X`` (numpy, list of lists, DataFrame, any real dtype) in ``dtype``."""
    batch = isinstance(data, tuple) or (isinstance(data, list) and data and getattr(data[0], "ndim", 0) >= 2)
    items = data if batch else (data,)
    out = [as_data(items[0], dtype or torch.float32, name) if dtype is not None or not isinstance(items[0], torch.Tensor)
           else items[0]]
    for item in items[1:]:
        if not isinstance(item, torch.Tensor):
            try:
                item = torch.as_tensor(np.asarray(item.to_numpy() if hasattr(item, "to_numpy") else item))
            except Exception as exc:  # numpy object arrays, ragged lists, ...
                raise TypeError(f"{name} must be tensors or arrays, got {type(item).__name__}.") from exc
        out.append(item)
    n = len(out[0])
    if n == 0:
        raise ValueError(f"{name} is empty.")
    if any(len(t) != n for t in out):
        raise ValueError(f"{name}: tensors differ in length {[len(t) for t in out]}; they must match.")
    require_finite(out[0], f"{name} contains", "; clean or impute them first")
    return tuple(out)


def progress_bar(**kwargs):
    """A tqdm bar: a widget in Jupyter when ipywidgets is installed, a text bar otherwise.

    ``tqdm.auto`` picks the widget bar in any Jupyter kernel and, without ipywidgets, warns
    ("IProgress not found") in the learner's output; the text bar works everywhere.
    """
    try:
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm.std import tqdm
    return tqdm(**kwargs)


def _fits_on(device: torch.device, tensors: Sequence[torch.Tensor]) -> bool:
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    need = sum(t.element_size() * t.numel() for t in tensors)
    return need < 0.5 * free  # leave room for activations


def _make_optimizer(optimizer, params, lr: float, weight_decay: float, kwargs: dict, device: torch.device):
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if isinstance(optimizer, str):
        try:
            name, optimizer = optimizer.lower(), _OPTIMIZERS[optimizer.lower()]
        except KeyError:
            raise ValueError(
                f"optimizer={optimizer!r}: use one of {sorted(_OPTIMIZERS)}, a torch.optim "
                "class, or an optimizer already built on model.parameters()."
            ) from None
        if name in ("adam", "adamw") and device.type in ("cpu", "cuda") and not {"fused", "foreach"} & set(kwargs):
            # the fused kernel is ~20% faster per step on a 2-core CPU, and faster still on a GPU
            try:
                return optimizer(params, lr=lr, weight_decay=weight_decay, fused=True, **kwargs)
            except (RuntimeError, TypeError, ValueError):
                pass  # a dtype or build without the fused kernel: the default implementation
    if isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
        return optimizer(params, lr=lr, weight_decay=weight_decay, **kwargs)
    if callable(optimizer):
        return optimizer(params)
    raise TypeError(f"optimizer={optimizer!r} is not an optimizer, a name or a factory.")


def _amp_dtype(amp, model: nn.Module, device: torch.device) -> torch.dtype | None:
    if amp is None:  # auto: only where the model says it is safe, only on CUDA
        amp = bool(getattr(model, "supports_amp", False)) and device.type == "cuda"
    if not amp:
        return None
    if device.type != "cuda":
        raise ValueError("amp=True needs a CUDA device; mixed precision is off on CPU/MPS.")
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _batches(tensors: tuple[torch.Tensor, ...], batch_size: int, perm: torch.Tensor | None, device):
    """Mini-batches as tuples of slices, in the order ``perm`` (None: as stored)."""
    n = len(tensors[0])
    if perm is not None:
        # one gather per epoch, then contiguous slices: cheaper than a gather per batch
        tensors = tuple(t[perm.to(t.device)] for t in tensors)
    for start in range(0, n, batch_size):
        yield tuple(t[start : start + batch_size].to(device, non_blocking=True) for t in tensors)


@torch.no_grad()
def evaluate(
    model: nn.Module, X: Any, batch_size: int = 1024, device: str | torch.device | None = None
) -> dict[str, float]:
    """Mean loss and metrics of ``model`` over ``X``, without gradients.

    Batches are weighted by their size, or by ``model.batch_weight(batch)``
    where the model defines it (a recommender's error is a mean over
    ratings, and batches of users or items hold different numbers of them).
    ``"loss"`` is the eval-mode loss; a model with ``eval_loss_name`` reports it under
    that name only (see :class:`Trainable`).
    """
    batch_size = positive_int(batch_size, "batch_size")
    tensors = _as_tuple(X, "X", None if getattr(model, "index_input", False) else model_dtype(model))
    device = next(model.parameters()).device if device is None else get_device(device)
    weigh = getattr(model, "batch_weight", None)
    totals: dict[str, torch.Tensor] = {}
    weights: dict[str, float] = {}
    with evaluating(model):
        for batch in _batches(tensors, batch_size, None, device):
            size = weigh(batch) if weigh is not None else len(batch[0])
            loss, metrics = model.loss(batch)
            _accumulate(totals, weights, loss, metrics, size, device)
    scores = {key: (value / weights[key]).item() for key, value in totals.items()}
    name = getattr(model, "eval_loss_name", None)
    if name is not None:
        scores.setdefault(name, scores["loss"])
        del scores["loss"]
    return scores


def fit(
    model: nn.Module,
    X: Any,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    optimizer: Any = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    optimizer_kwargs: dict | None = None,
    validation_data: Any = None,
    validation_split: float = 0.0,
    patience: int | None = None,
    min_delta: float = 0.0,
    restore_best_weights: bool = True,
    clip_grad_norm: float | None = None,
    amp: bool | None = None,
    device: str | torch.device | None = "auto",
    seed: int | None = None,
    shuffle: bool = True,
    progress: bool = True,
    callback: Callable[[int, nn.Module, History], Any] | None = None,
) -> History:
    """Train ``model`` on ``X`` by minimizing ``model.loss(batch)``.

    Parameters
    ----------
    model : nn.Module
        Must define ``loss(batch) -> (loss, metrics)`` where ``loss`` is a
        scalar tensor and ``metrics`` a dict of scalars. ``batch`` is always a
        tuple of slices: ``(x,)``, or ``(x, y)`` when ``X`` is a tuple ``(X, y)``
        (the contract is :class:`Trainable`).
    X : tensor, array, or tuple of them, first dimension N
    epochs, batch_size : int
    optimizer : str, torch.optim class, callable or optimizer instance
        "adam" (default; the fused implementation on CPU and CUDA), "adamw", "sgd",
        "rmsprop"; a class built with
        ``lr``/``weight_decay``/``optimizer_kwargs``; ``f(params) -> optimizer``;
        or an optimizer already on ``model.parameters()`` (kept across calls).
    validation_data : like ``X``, optional
        Held-out data scored after every epoch (``val_*`` keys).
    validation_split : float in [0, 1)
        Fraction of ``X`` (the last rows, before shuffling, like Keras) held out
        when ``validation_data`` is not given.
    patience : int, optional
        Early stopping: stop when the monitored loss (``val_loss`` if there is
        validation data, ``val_<eval_loss_name>`` for a model that names its
        eval-mode loss, else ``loss``) has not improved by ``min_delta`` for
        ``patience`` epochs; with ``restore_best_weights`` the best epoch's
        parameters are put back.
    clip_grad_norm : float, optional
        Clip the global gradient norm to this value.
    amp : bool, optional
        Mixed precision (bf16, or fp16 with loss scaling) on CUDA. ``None``
        enables it where the model sets ``supports_amp = True``.
    device : "auto", "cpu", "cuda", ...
        The model is moved there; data too, once, when it fits.
    seed : int, optional
        Seeds the batch order and the model's sampling: the generator ``fit`` passes to a model whose
        ``loss`` takes one (an RBM's chain), else torch's global generator (dropout, a VAE's noise).
    callback : callable, optional
        ``callback(epoch, model, history)`` after each epoch; returning True stops.

    Returns
    -------
    History

    Raises
    ------
    TrainingDiverged
        If a measured loss becomes NaN or infinite (every batch's, or one in ten for a
        model that takes ``monitor``), or after an epoch any parameter is non-finite or
        beyond :data:`MAX_PARAMETER` (1e6) in magnitude; parameters are restored to those
        at the start of the failing epoch, so the model is not left corrupted, and the
        message names the likely cause. Any other error inside an epoch restores them too
        (and becomes a TrainingDiverged when a parameter had gone non-finite).
    KeyboardInterrupt
        Re-raised after an interrupt (Ctrl-C) with the model restored to the last
        completed epoch, which the message names.
    """
    if not hasattr(model, "loss"):
        hint = " Train it with model.pretrain(X) instead." if hasattr(model, "pretrain") else ""
        raise TypeError(f"{type(model).__name__} has no loss(batch) method; fit cannot train it.{hint}")
    epochs = positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split}.")
    if clip_grad_norm is not None and not (isinstance(clip_grad_norm, (int, float)) and clip_grad_norm > 0
                                           and math.isfinite(clip_grad_norm)):
        raise ValueError(f"clip_grad_norm must be a positive number or None, got {clip_grad_norm!r}; a negative "
                         "norm would turn every step into gradient ascent.")
    stopping = EarlyStopping(None if patience is None else positive_int(patience, "patience"), min_delta,
                             restore_best_weights)

    device = get_device(device)
    model.to(device)
    tensors, val = _training_data(model, X, validation_data, validation_split, device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = _make_optimizer(optimizer, params, lr, weight_decay, optimizer_kwargs or {}, device)
    mine = {id(p) for p in params}
    if not any(id(p) in mine for group in opt.param_groups for p in group["params"]):
        raise ValueError(f"the optimizer updates none of {type(model).__name__}'s parameters (was it built on "
                         "another model, or before the model was rebuilt?); build it on model.parameters() or "
                         "pass its name, e.g. optimizer='adam'.")
    amp_dtype = _amp_dtype(amp, model, device)
    step = _Step(model, opt, params, device, amp_dtype, clip_grad_norm)
    gen = torch.Generator(device="cpu")  # the batch order
    step.monitors = _takes_keyword(model, "monitor")
    if _takes_keyword(model, "generator"):
        # the model's sampling gets a generator of its own: the caller's global generator is left alone
        step.generator = torch.Generator(device=device)
        if seed is not None:
            step.generator.manual_seed(seed)
        else:
            step.generator.seed()
    elif seed is not None:
        torch.manual_seed(seed)  # dropout, a VAE's noise, ... draw from the global generator
    if seed is not None:
        gen.manual_seed(seed)
    else:
        gen.seed()

    history = History(device=str(device))
    guard = _Guard(model, opt, tensors[0])
    monitor = "loss" if val is None else "val_" + (getattr(model, "eval_loss_name", None) or "loss")
    start_time = time.perf_counter()
    # one bar per fit, advanced per epoch; the book build sets TQDM_DELAY so that no bar reaches
    # a rendered page, while a learner running the chapter sees it live
    bar = progress_bar(total=epochs, disable=not progress, unit="epoch", desc=type(model).__name__)
    try:
        for epoch in range(epochs):
            guard.start(epoch)
            perm = torch.randperm(len(tensors[0]), generator=gen) if shuffle else None
            record = _train_epoch(step, _batches(tensors, batch_size, perm, device), guard,
                                  math.ceil(len(tensors[0]) / batch_size))
            if val is not None:
                scores = evaluate(model, val, batch_size=max(batch_size, 1024))
                record.update({f"val_{key}": value for key, value in scores.items()})
            history.append(record)
            bar.set_postfix({k: f"{v:.4g}" for k, v in record.items()}, refresh=False)
            bar.update(1)
            patience_ran_out = stopping.update(record[monitor], epoch, model)
            history.best_epoch = stopping.best_epoch
            stop = callback(epoch, model, history) if callback is not None else False
            if patience_ran_out:
                history.stopped_early = epoch + 1 < epochs
                break
            if stop:
                break
    except KeyboardInterrupt:
        guard.restore()
        raise KeyboardInterrupt(
            f"training was interrupted in epoch {guard.epoch + 1}; the model was restored to its parameters after "
            f"epoch {guard.epoch} (the last one completed){' (its start)' if guard.epoch == 0 else ''}.") from None
    finally:
        bar.close()
    stopping.restore_best(model)
    history.seconds = time.perf_counter() - start_time
    return history


def _takes_keyword(model, name: str) -> bool:
    """Whether ``model.loss`` accepts the keyword ``name`` (``generator``, ``monitor``: see :class:`Trainable`)."""
    return name in inspect.signature(model.loss).parameters


def _training_data(model, X, validation_data, validation_split: float, device: torch.device):
    """``(tensors, val)``: the training tuple and the validation tuple (or None), checked, split and placed."""
    # a model whose batches start with indices (index_input) gets its data as given
    dtype = None if getattr(model, "index_input", False) else model_dtype(model)
    tensors = _as_tuple(X, "X", dtype)
    val = None if validation_data is None else _as_tuple(validation_data, "validation_data", dtype)
    if hasattr(model, "check_data"):
        # once for the whole set, so that loss() need not sync a GPU on every batch
        model.check_data(tensors[0])
        if val is not None:
            model.check_data(val[0])
    if val is None and validation_split > 0:
        n_val = int(round(len(tensors[0]) * validation_split))
        if n_val < 1 or n_val >= len(tensors[0]):
            raise ValueError(f"validation_split={validation_split} leaves no data on one side.")
        val = tuple(t[-n_val:] for t in tensors)
        tensors = tuple(t[:-n_val] for t in tensors)
    if _fits_on(device, tensors + (val or ())):
        tensors = tuple(t.to(device) for t in tensors)
        val = tuple(t.to(device) for t in val) if val is not None else None
    return tensors, val


@dataclass
class _Step:
    """One optimizer step on one batch: forward under autocast, backward (scaled for fp16), clip, step."""

    model: nn.Module
    opt: torch.optim.Optimizer
    params: list
    device: torch.device
    amp_dtype: torch.dtype | None
    clip_grad_norm: float | None

    def __post_init__(self):
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None

    generator: torch.Generator | None = None  # for a model whose loss samples (see Trainable)
    monitors: bool = False  # the model's loss takes `monitor` (see Trainable)

    def loss(self, batch: Batch, monitored: bool = True):
        kwargs = {}
        if self.generator is not None:
            kwargs["generator"] = self.generator
        if self.monitors:
            kwargs["monitor"] = monitored
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            return self.model.loss(batch, **kwargs)

    def update(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.opt)
        else:
            loss.backward()
        if self.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.params, self.clip_grad_norm)
        if self.scaler is not None:
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            self.opt.step()


def _train_epoch(step: _Step, batches, guard: "_Guard", n_batches: int) -> dict[str, float]:
    """One pass over ``batches`` (``n_batches`` of them); the size-weighted mean loss and metrics of the epoch."""
    step.model.train()
    totals: dict[str, torch.Tensor] = {}
    weights: dict[str, float] = {}
    measured = monitored_batches(n_batches)
    try:
        for i, batch in enumerate(batches):
            monitored = i in measured
            loss, metrics = step.loss(batch, monitored)
            # a model told not to monitor this batch returned a loss without a value: only its gradient counts
            if monitored or not step.monitors:
                # a sync per batch is free on the CPU; on a GPU only the measured batches are checked
                if (step.device.type == "cpu" or monitored) and not math.isfinite(loss.item()):
                    guard.diverged_loss(loss, i)
                # before the update: a deferred metric measures the parameters the loss saw
                _accumulate(totals, weights, loss, metrics, len(batch[0]), step.device, monitored)
            step.update(loss)
    except Exception as exc:  # the model as it was at the epoch's start, whatever failed in between
        guard.restore_after(exc)
        raise
    record = {key: (value / weights[key]).item() for key, value in totals.items()}
    if not math.isfinite(record["loss"]):
        guard.diverged_loss(record["loss"], i)
    guard.check_parameters()
    return record
