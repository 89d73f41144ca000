"""Checkpoints: a model's ``state_dict`` plus the config that rebuilds it.

Files are written atomically (temporary file, then rename) and read with
``torch.load(weights_only=True)``, so loading never runs pickled code. The
class a file names is looked up in :func:`registry`, the explicit list of
companion's model classes, and nowhere else: a crafted file cannot make
``load`` call any other function. A model is checkpointable when its class is
in that registry and it has a ``config`` dict of constructor arguments.
"""

from __future__ import annotations

import functools
import itertools
import os
from pathlib import Path

import torch
from torch import nn

from .utils import plain_config, torch_save_atomic

FORMAT = "companion-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that is unreadable or does not fit the model."""


@functools.lru_cache(maxsize=1)
def registry() -> dict[str, type]:
    """``{"module:QualName": class}`` of every model class that :func:`save` writes and :func:`load` rebuilds.

    The public classes of :mod:`companion.models` that keep a ``config``; built
    once, from that explicit list, never from a module attribute a file names.
    """
    from . import models

    classes = [getattr(models, name) for name in models.__all__]
    return {f"{c.__module__}:{c.__qualname__}": c for c in classes
            if isinstance(c, type) and issubclass(c, nn.Module) and c is not models.Classifier}


def _key(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


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
    if _key(cls) not in registry():
        raise CheckpointError(
            f"{cls.__name__} is not one of companion's model classes ({', '.join(sorted(c.__name__ for c in registry().values()))}), "
            "so load() could not rebuild it; save model.state_dict() with torch.save instead.")
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory; give a file name, e.g. {path / 'model.pt'}.")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "class": _key(cls),
        "config": config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    torch_save_atomic(payload, path)
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


def _resolve_class(name) -> type:
    """The registered class ``name`` names; anything else is refused before anything is called."""
    cls = registry().get(name) if isinstance(name, str) else None
    if cls is None:
        module = name.partition(":")[0] if isinstance(name, str) else ""
        where = "is not part of companion" if not module.startswith("companion") else "is not a companion model class"
        raise CheckpointError(f"checkpoint names class {name!r}, which {where}; only companion's models "
                              f"({', '.join(sorted(c.__name__ for c in registry().values()))}) can be loaded.")
    return cls


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
    from .config import get_device

    path = Path(path)
    target = None if device is None else get_device(device)  # a bad device fails before the file is read
    payload = _read(path)
    cls = _resolve_class(payload.get("class"))
    if not isinstance(payload.get("config"), dict) or not isinstance(payload.get("state_dict"), dict):
        raise CheckpointError(f"{path} lacks its config or state_dict; it was not written by companion.save.")
    if model is None:
        try:
            model = cls(**payload["config"])
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{path} holds a config that {cls.__name__} rejects ({exc}).") from exc
        target_device = target or "cpu"
    else:
        mine = f"{type(model).__module__}:{type(model).__qualname__}"
        # compared as plain data: a checkpoint that stored a tuple matches the list a config reads back as
        if mine != payload["class"] or getattr(model, "config", None) != plain_config(payload["config"]):
            raise CheckpointError(
                f"{path} holds {payload['class'].split(':')[-1]}({_fmt(payload['config'])}) but the "
                f"model is {type(model).__name__}({_fmt(getattr(model, 'config', {}))}); build the "
                "model with the checkpoint's config, or call load(path) to rebuild it."
            )
        # a model with no parameters (PCA, a Hopfield network) is where its buffers are, or on the CPU
        here = next(itertools.chain(model.parameters(), model.buffers()), None)
        target_device = target or (here.device if here is not None else "cpu")
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
