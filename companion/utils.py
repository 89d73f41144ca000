"""Small helpers shared by the models."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


@torch.no_grad()
def batched_apply(
    model: nn.Module, fn: Callable[[torch.Tensor], torch.Tensor], X: torch.Tensor, batch_size: int = 2048
) -> torch.Tensor:
    """``fn`` over ``X`` in eval mode, batch by batch on the model's device; result on the CPU.

    The model's train/eval mode is restored afterwards.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = [fn(xb.to(device)).cpu() for xb in torch.split(torch.as_tensor(X), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out)
