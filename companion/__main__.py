"""``python -m companion info``: versions, device, profile and data sources.
``python -m companion reproduce NAME``: a paper reproduction (see :mod:`companion.reproduce`)."""

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


def reproduce(args) -> int:
    from .data.mnist import DataNotFoundError
    from .reproduce import EXPERIMENTS, ReproduceError
    from .reproduce import reproduce as run

    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    command = " ".join(["python -m companion reproduce", args.name, "--budget", args.budget]
                       + (["--device", args.device] if args.device != "auto" else []))
    for name in names:
        try:
            run(name, args.budget, device=args.device, data=args.data, out=args.out, resume=args.resume,
                restart=args.restart, every=args.every, progress=not args.no_progress,
                command=command.replace(f" {args.name} ", f" {name} ", 1))
        except (DataNotFoundError, ReproduceError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    from .reproduce import EXPERIMENTS

    parser = argparse.ArgumentParser(prog="python -m companion", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="versions, device, profile and data sources")
    rep = sub.add_parser("reproduce", help="run a paper reproduction and write its record to results/")
    rep.add_argument("name", help="experiment name, or 'all' for every one in turn",
                     choices=["all", *EXPERIMENTS])
    rep.add_argument("--budget", default="cpu", choices=["smoke", "cpu", "gpu", "paper"],
                     help="smoke: seconds, tiny data; cpu: <= 60 min each on 2 cores; gpu: paper sizes, minutes "
                          "on one GPU; paper: the paper's sizes and epochs")
    rep.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:1, ...")
    rep.add_argument("--data", default=None,
                     help="folder of the official MNIST idx files (default: $COMPANION_DATA, then ../shared/data); "
                          "for rbm-cf, a folder holding MovieLens 100k's u.data (default: the chapters' source)")
    rep.add_argument("--out", default="results", help="results root (default: results)")
    rep.add_argument("--resume", action="store_true", help="continue an interrupted run from its checkpoint")
    rep.add_argument("--restart", action="store_true", help="discard an interrupted run's checkpoint")
    rep.add_argument("--every", type=int, default=5, help="checkpoint every this many epochs (default 5)")
    rep.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.command == "info":
        return info()
    return reproduce(args)


if __name__ == "__main__":
    sys.exit(main())
