"""``python -m companion info``: versions, device, profile and data sources."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from importlib import metadata


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def info() -> int:
    import torch

    from . import __version__
    from .config import ConfigError, data_root, get_device, profile
    from .data.mnist import DataNotFoundError, resolve_source
    from .data.movielens import movielens_source

    row = lambda key, value: print(f"{key + ':':<14}{value}")  # noqa: E731
    row("companion", __version__)
    row("python", f"{platform.python_version()} ({sys.executable})")
    for name in ("torch", "torchvision", "numpy", "scikit-learn", "matplotlib", "mlxtend", "jupyter-book"):
        row(name, _version(name))
    device = get_device("auto")
    detail = ""
    if device.type == "cuda":
        detail = f" ({torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda})"
    row("device", f"{device}{detail}  [what device='auto' picks; torch threads: {torch.get_num_threads()}]")
    try:
        prof = profile()
    except ConfigError as exc:
        row("profile", f"error: {exc}")
        return 2
    row("profile", f"{prof}  [COMPANION_PROFILE={os.environ.get('COMPANION_PROFILE', '')!r}]")
    row("data root", f"{data_root()}  [COMPANION_DATA]")
    try:
        source = resolve_source()
        line = source.describe()
        if source.kind == "embedded" and prof == "full":
            line += "; the full profile will try to download MNIST first"
    except DataNotFoundError as exc:
        line = f"MNIST: {exc}"
    row("data", line)
    try:
        line = movielens_source("100k").describe()  # says where, never reads or downloads
    except DataNotFoundError as exc:
        line = f"MovieLens 100k: {exc}"
    row("data", line)
    row("data", "digits: scikit-learn's bundled 8x8 digits (1,797 images)")
    row("data", "synthetic: redundant_features, manifold_1d (generated, seeded)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m companion", description=__doc__)
    parser.add_argument("command", choices=["info"], help="what to do")
    args = parser.parse_args(argv)
    if args.command == "info":
        return info()
    return 1


if __name__ == "__main__":
    sys.exit(main())
