"""Paper-scale reproductions: ``python -m companion reproduce NAME --budget smoke|cpu|gpu|paper``.

Each experiment is a short module with ``PAPER`` (the published figure and its
citation key), ``TARGETS`` (what its ``cpu`` budget must reach), ``BUDGETS``
(settings per budget) and ``run(ctx, settings) -> metrics``, written with the
package's public API only. :func:`reproduce` runs one and writes its record
``results/<budget>/<name>.json``.
"""

from __future__ import annotations

import importlib
import math
import time

from .runner import PROVENANCE_KEYS, RECORD_KEYS, ReproduceError, Run, find_data

EXPERIMENTS = {
    "deep-ae": "deep_ae",
    "dbn-backprop": "dbn_backprop",
    "dbn-updown": "dbn_updown",
    "rbm-ais": "rbm_ais",
    "vae-nll": "vae_nll",
    "dbm": "dbm",
    "rbm-cf": "rbm_cf",
}
BUDGETS = ("smoke", "cpu", "gpu", "paper")

__all__ = ["BUDGETS", "EXPERIMENTS", "PROVENANCE_KEYS", "RECORD_KEYS", "ReproduceError", "Run", "experiment",
           "find_data", "reproduce"]


def experiment(name: str):
    """The module of experiment ``name`` (one of :data:`EXPERIMENTS`)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}.")
    return importlib.import_module(f"{__name__}.{EXPERIMENTS[name]}")


def _finite(x) -> float | None:
    """An interval's end as a float, or None where it is open (AIS's lower end when 3 s.e. exceed the mean)."""
    x = float(x)
    return x if math.isfinite(x) else None


def reproduce(name: str, budget: str = "cpu", *, device="auto", data=None, out="results", resume: bool = False,
              restart: bool = False, every: int = 5, progress: bool = True, command: str | None = None) -> dict:
    """Run experiment ``name`` at ``budget`` and return the record it wrote.

    Raises
    ------
    companion.data.mnist.DataNotFoundError
        When the official MNIST is not where ``data`` (or ``COMPANION_DATA``,
        or ``../shared/data``) points.
    ReproduceError
        A checkpoint from another commit or other settings, or one that would be
        overwritten without ``resume`` or ``restart``.
    """
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}; choose from {', '.join(BUDGETS)}.")
    module = experiment(name)
    ctx = Run(name, budget, module.BUDGETS[budget], out=out, device=device, data=data, resume=resume,
              restart=restart, every=every, progress=progress, command=command,
              data_kind=getattr(module, "DATA", "mnist"))
    t0 = time.perf_counter()
    print(f"{name} ({budget}) on {ctx.device}, data from {ctx.data_source()}, commit {ctx.commit[:12]}"
          f"{' (dirty)' if ctx.dirty else ''}", flush=True)
    metrics = module.run(ctx, ctx.settings)
    paper = {**module.PAPER, "target": module.TARGETS.get(budget)}
    record = ctx.record({k: ([_finite(x) for x in v] if isinstance(v, list) else float(v))
                         for k, v in metrics.items()}, paper)
    print(f"{name} ({budget}): {record['metrics']} in {time.perf_counter() - t0:.0f} s this call, "
          f"{record['provenance']['wall_seconds']:.0f} s in all -> {ctx.record_path}", flush=True)
    return record
