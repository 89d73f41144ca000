"""Small helpers shared by the package: model modes, batched evaluation, atomic file writes."""

from __future__ import annotations

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
