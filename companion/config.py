"""Run settings: the profile, seeding and device selection.

Nothing here changes global state except :func:`seed_everything`, whose whole
purpose is to seed the global generators.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

PROFILES = ("quick", "full")
_PROFILE_VARIABLE = "COMPANION_PROFILE"


class ConfigError(ValueError):
    """A setting (profile, device, ...) that cannot be honoured."""


def profile() -> str:
    """The active profile, read from ``COMPANION_PROFILE``.

    Returns
    -------
    str
        ``"quick"`` (the default: small embedded data, runs on a 2-core CPU in
        minutes) or ``"full"`` (full data sets and paper-size models).

    Raises
    ------
    ConfigError
        If the variable holds anything else.
    """
    value = os.environ.get(_PROFILE_VARIABLE, "quick").strip().lower() or "quick"
    if value not in PROFILES:
        raise ConfigError(
            f"{_PROFILE_VARIABLE}={os.environ[_PROFILE_VARIABLE]!r} is not a profile; "
            f"use one of {', '.join(PROFILES)} (or unset it for 'quick')."
        )
    return value


def choose(*, quick: Any, full: Any) -> Any:
    """Pick the value for the active profile.

    Examples
    --------
    >>> epochs = choose(quick=5, full=50)  # doctest: +SKIP
    """
    return quick if profile() == "quick" else full


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (CPU and every GPU).

    Runs on the CPU are then bit-for-bit repeatable; on a GPU some kernels stay
    non-deterministic unless ``torch.use_deterministic_algorithms(True)``.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ConfigError(f"seed must be an integer, got {seed!r}.")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(device: str | torch.device | None = "auto") -> torch.device:
    """Resolve a device request to a :class:`torch.device`.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda", "cuda:N", "mps"} or torch.device
        ``"auto"`` (or ``None``) picks CUDA if present, then Apple's MPS, then
        the CPU.

    Raises
    ------
    ConfigError
        If the requested accelerator is not available on this machine.
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(
            f"device={device!r} is not a device name; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'."
        ) from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device={device!r} was asked for but this machine has no usable CUDA GPU; "
                "use device='auto' to fall back to the CPU."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) exist."
            )
    elif dev.type == "mps" and not _mps_available():
        raise ConfigError(
            f"device={device!r} was asked for but MPS is not available; use device='auto'."
        )
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device={device!r}: only cpu, cuda and mps are supported.")
    return dev


def data_root() -> str:
    """The data root: ``$COMPANION_DATA`` or ``~/.cache/companion``."""
    root = os.environ.get("COMPANION_DATA") or os.path.join("~", ".cache", "companion")
    return os.path.abspath(os.path.expanduser(root))
