"""Checkpoints: a model's ``state_dict`` plus the config that rebuilds it.

Files are written atomically (temporary file, then rename) and read with
``torch.load(weights_only=True)``, so loading never runs pickled code.
A model is checkpointable when it has a ``config`` dict of constructor
arguments and lives in the ``companion`` package.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

FORMAT = "companion-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that is unreadable or does not fit the model."""


def save(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write ``model`` to ``path`` atomically; an existing file is replaced only on success.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise CheckpointError(
            f"{type(model).__name__} has no `config` dict of constructor arguments, so a "
            "checkpoint could not rebuild it; save model.state_dict() with torch.save instead."
        )
    cls = type(model)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "config": config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _read(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable checkpoint ({exc}).") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} was not written by companion.save.")
    if payload.get("version", 0) > VERSION:
        raise CheckpointError(f"{path} has format version {payload['version']}; upgrade companion.")
    return payload


def _resolve_class(name: str) -> type:
    module, _, qualname = name.partition(":")
    if not (module == "companion" or module.startswith("companion.")):
        raise CheckpointError(f"checkpoint names class {name!r}, which is not part of companion.")
    try:
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise CheckpointError(f"checkpoint names class {name!r}, which this companion lacks.") from exc
    return obj


def load(path: str | os.PathLike, model: nn.Module | None = None, device: str | None = None) -> nn.Module:
    """Rebuild the saved model, or load the weights into ``model``.

    Parameters
    ----------
    path : path to a file written by :func:`save`
    model : nn.Module, optional
        If given, its class and config must match the checkpoint's.
    device : str, optional
        Where to put the loaded model (default: CPU, or ``model``'s device).

    Raises
    ------
    CheckpointError
        Unreadable file, or a checkpoint whose architecture differs from ``model``;
        ``model`` is left untouched in that case.
    """
    path = Path(path)
    payload = _read(path)
    cls = _resolve_class(payload["class"])
    if model is None:
        model = cls(**payload["config"])
        target_device = device or "cpu"
    else:
        mine = f"{type(model).__module__}:{type(model).__qualname__}"
        if mine != payload["class"] or getattr(model, "config", None) != payload["config"]:
            raise CheckpointError(
                f"{path} holds {payload['class'].split(':')[-1]}({_fmt(payload['config'])}) but the "
                f"model is {type(model).__name__}({_fmt(getattr(model, 'config', {}))}); build the "
                "model with the checkpoint's config, or call load(path) to rebuild it."
            )
        target_device = device or next(model.parameters()).device
    ours = model.state_dict()
    theirs = payload["state_dict"]
    # an empty tensor is state not sized yet (e.g. an unfitted PCA); it takes the saved shape
    bad = [k for k in theirs if k in ours and ours[k].numel() > 0 and theirs[k].shape != ours[k].shape]
    if set(ours) != set(theirs) or bad:
        raise CheckpointError(
            f"{path} does not fit {type(model).__name__}: missing {sorted(set(ours) - set(theirs))}, "
            f"unexpected {sorted(set(theirs) - set(ours))}, shape mismatch {bad}."
        )
    model.load_state_dict(theirs)
    return model.to(target_device)


def _fmt(config: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in config.items())
