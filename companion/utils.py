"""Small helpers shared by the models."""

from __future__ import annotations

from contextlib import contextmanager
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
