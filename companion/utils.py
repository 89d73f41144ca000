"""Small helpers shared by the package: model modes, batched evaluation, atomic file writes, given gradients,
configs read from the constructor's arguments."""

from __future__ import annotations

import functools
import inspect
import io
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for the block and restore its previous mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.no_grad()
def batched_apply(
    model: nn.Module, fn: Callable[[torch.Tensor], torch.Tensor], X: torch.Tensor, batch_size: int = 2048
) -> torch.Tensor:
    """``fn`` over ``X`` in eval mode, batch by batch on the model's device; result on the CPU.

    The model's train/eval mode is restored afterwards.
    """
    from .checks import as_data, model_dtype, positive_int

    batch_size = positive_int(batch_size, "batch_size")
    device = next(model.parameters()).device
    X = X if isinstance(X, torch.Tensor) and X.is_floating_point() else as_data(X, model_dtype(model))
    with evaluating(model):
        out = [fn(xb.to(device)).cpu() for xb in torch.split(X, batch_size)]
    return torch.cat(out)


def write_atomic(target: str | Path, payload: bytes) -> None:
    """Write ``payload`` to ``target`` through a temporary file in the same folder.

    The rename is atomic, so an interrupted write leaves either the old file or none, never a
    truncated one. The folder is created if needed.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def torch_save_atomic(obj, target: str | Path) -> None:
    """:func:`torch.save` of ``obj`` to ``target``, written with :func:`write_atomic`."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomic(target, buffer.getvalue())


class _GivenGradients(torch.autograd.Function):
    """A scalar ``value`` whose gradients with respect to ``params`` are the given tensors."""

    @staticmethod
    def forward(ctx, value, n, *params_and_grads):
        ctx.save_for_backward(*params_and_grads[n:])
        return value.clone()

    @staticmethod
    def backward(ctx, grad_output):
        grads = ctx.saved_tensors
        # fit backpropagates 1.0 unless the loss was scaled; skip the multiplies in that case
        if grad_output.device.type != "cpu" or grad_output.item() != 1.0:
            grads = tuple(g * grad_output for g in grads)
        return (None, None, *grads, *([None] * len(grads)))


def given_gradients(value: torch.Tensor | None, params, grads) -> torch.Tensor:
    """A scalar equal to ``value`` whose backward pass puts ``grads[i]`` into ``params[i].grad``.

    Learning rules that are not the gradient of a computable loss (CD-k, PCD,
    the wake-sleep and up-down rules, DBM mean-field learning) become a "loss"
    that :func:`companion.fit` and any torch optimizer can step on: the
    gradient handed back is minus the rule's update. ``value`` is only
    reported (e.g. a free-energy difference); ``None`` when it was not measured
    (``loss(batch, monitor=False)``, see :class:`companion.train.Trainable`): the scalar is
    then NaN. ``grads`` must match the parameters' shapes and are computed under ``no_grad``
    by the caller.
    """
    params, grads = tuple(params), tuple(grads)
    if value is None:
        value = grads[0].new_tensor(float("nan"))
    if len(params) != len(grads):
        raise ValueError(f"{len(params)} parameters but {len(grads)} gradients.")
    for p, g in zip(params, grads):
        if p.shape != g.shape:
            raise ValueError(f"gradient of shape {tuple(g.shape)} for a parameter of shape {tuple(p.shape)}.")
    return _GivenGradients.apply(value, len(params), *params, *grads)


@functools.cache
def init_parameters(cls: type) -> tuple[str, ...]:
    """The argument names of ``cls``'s constructor, in order.

    Where ``__init__`` passes ``**kwargs`` on, the arguments with defaults of the base
    classes' constructors that receive them are included (``GaussianHiddenRBM(n_visible,
    n_hidden, **kwargs)`` takes the RBM core's ``k``, ``persistent``, ...); a base's
    required arguments are not, since the subclass fills them itself.
    """
    names: list[str] = []
    own = True
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        passes_on = False
        for p in list(inspect.signature(init).parameters.values())[1:]:
            if p.kind is p.VAR_KEYWORD:
                passes_on = True
            elif p.kind is not p.VAR_POSITIONAL and (own or p.default is not p.empty) and p.name not in names:
                names.append(p.name)
        if not passes_on:
            break
        own = False
    return tuple(names)


class ConstructorConfig:
    """A model whose ``config`` is read from its constructor's arguments, as scikit-learn's ``get_params``.

    The model keeps each argument of ``__init__`` (as validated) in the attribute of the same
    name, or in the one :attr:`_config_attributes` names where that name is taken (the
    autoencoders' ``loss`` is their loss method); an argument mapped to None is left out
    (the Boltzmann machine's ``mask``, a buffer that the ``state_dict`` carries). The values are
    plain data (:func:`plain_config`): a tuple reads back as a list, an object with an ``as_config()``
    (a corruption) as that dict. ``type(model)(**model.config)`` then builds the same model, which is
    how :func:`companion.load` rebuilds a checkpoint; an attribute changed during training (the
    rating RBMs' ``k`` under a schedule) is in it too.
    """

    _config_attributes: dict[str, str] = {}

    @property
    def config(self) -> dict:
        """``{argument: value}`` for every argument of the constructor, read from the model's attributes."""
        where = {name: self._config_attributes.get(name, name) for name in init_parameters(type(self))}
        return plain_config({name: getattr(self, attribute) for name, attribute in where.items()
                             if attribute is not None})


def plain_config(value):
    """``value`` as plain data, the form a config is stored and compared in: tuples become lists (checkpoints
    have always stored lists), an object with ``as_config()`` its dict, recursively through dicts and lists."""
    if hasattr(value, "as_config"):
        value = value.as_config()
    if isinstance(value, dict):
        return {key: plain_config(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_config(v) for v in value]
    return value
