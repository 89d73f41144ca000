"""Figures used across the chapters. Every function returns its matplotlib Figure.

Figures are at most :data:`MAX_WIDTH` inches wide: the book shows them at 100 dpi in a
column about 700 px wide, and a wider figure would be scaled down there until its
text could no longer be read.
"""

from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


MAX_WIDTH = 7.0
"""Widest figure, in inches, that the book's 704-px column shows at full size (100 dpi)."""


def _cell(size: float, columns: int, margin: float = 0.0) -> float:
    """Side of one image, in inches: ``size``, or less so that ``columns`` of them and ``margin``
    fit in :data:`MAX_WIDTH` (the room for titles and row labels keeps its size)."""
    return min(size, (MAX_WIDTH - margin) / columns)


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x)


def _as_images(X, shape: tuple[int, int] | None) -> np.ndarray:
    X = _to_numpy(X)
    if X.ndim == 4:  # (n, 1, h, w)
        X = X[:, 0]
    if X.ndim == 2:
        if shape is None:
            side = int(round(math.sqrt(X.shape[1])))
            if side * side != X.shape[1]:
                raise ValueError(f"cannot guess an image shape for {X.shape[1]} pixels; pass shape=.")
            shape = (side, side)
        X = X.reshape(len(X), *shape)
    if X.ndim != 3:
        raise ValueError(f"expected images (n, h, w), (n, 1, h, w) or (n, h*w), got {X.shape}.")
    return X


def image_grid(
    X,
    nrow: int = 10,
    shape: tuple[int, int] | None = None,
    title: str = "",
    labels: Sequence | None = None,
    cmap: str = "gray",
    vmin: float | None = 0.0,
    vmax: float | None = 1.0,
    scale: float = 1.0,
):
    """Show images in a grid of ``nrow`` columns; optional per-image labels."""
    imgs = _as_images(X, shape)
    n = len(imgs)
    ncol = min(nrow, n)
    rows = math.ceil(n / ncol)
    cell = _cell(scale, ncol)
    fig, axes = plt.subplots(rows, ncol, figsize=(ncol * cell, cell * 1.1 * rows + 0.4),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(imgs[i], cmap=cmap, vmin=vmin, vmax=vmax)
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def reconstructions(
    originals,
    reconstructed: Sequence | torch.Tensor,
    n: int = 10,
    shape: tuple[int, int] | None = None,
    title: str = "",
    row_labels: Sequence[str] | None = None,
):
    """Originals on the top row and one row per reconstruction below them.

    ``reconstructed`` is one array of the same shape as ``originals``, or a list
    of them (e.g. reconstructions after successive epochs).
    """
    rows = [originals] + (list(reconstructed) if isinstance(reconstructed, (list, tuple)) else [reconstructed])
    rows = [_as_images(r, shape)[:n] for r in rows]
    labels = list(row_labels) if row_labels is not None else ["original"] + [
        "reconstruction" if len(rows) == 2 else f"#{i}" for i in range(1, len(rows))
    ]
    cell = _cell(1.0, n, margin=1.2)  # 1.2 in for the row labels
    fig, axes = plt.subplots(len(rows), n, figsize=(n * cell + 1.2, cell * 1.05 * len(rows) + 0.5),
                             squeeze=False)
    for r, (imgs, label) in enumerate(zip(rows, labels)):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(imgs[c], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def history(hist, keys: Sequence[str] | None = None, title: str = "Training curves",
            ylabel: str = "loss", logy: bool = False, ax=None):
    """Plot per-epoch curves from a :class:`companion.train.History` (or a dict of lists)."""
    data = getattr(hist, "history", hist)
    keys = list(keys) if keys is not None else [k for k in data if k.endswith("loss")]
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.6))
    else:
        fig = ax.figure
    for key in keys:
        values = data[key]
        ax.plot(range(1, len(values) + 1), values, marker="o" if len(values) < 30 else None,
                markersize=3, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if logy:
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def latent_scatter(Z, y=None, title: str = "Latent codes", labels: Sequence[str] | None = None,
                   s: float = 6.0, alpha: float = 0.7):
    """Scatter 2-D or 3-D codes, coloured by class label ``y`` if given."""
    Z = _to_numpy(Z)
    if Z.ndim != 2 or Z.shape[1] not in (2, 3):
        raise ValueError(f"latent_scatter needs codes of shape (n, 2) or (n, 3), got {Z.shape}.")
    three = Z.shape[1] == 3
    fig = plt.figure(figsize=(6.4, 5.4))
    ax = fig.add_subplot(projection="3d" if three else None)
    c = None if y is None else _to_numpy(y)
    k = 10 if c is None else int(c.max()) + 1
    sc = ax.scatter(*Z.T, c=c, cmap="tab10" if k <= 10 else "viridis", s=s, alpha=alpha,
                    vmin=-0.5, vmax=k - 0.5)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if three:
        ax.set_zlabel("$z_3$")
    ax.set_title(title)
    if y is not None:
        cb = fig.colorbar(sc, ax=ax, ticks=range(k), shrink=0.7, pad=0.1 if three else 0.02)
        cb.set_label("digit" if labels is None else "class")
        if labels is not None:
            cb.set_ticklabels(labels)
    fig.tight_layout()
    return fig
