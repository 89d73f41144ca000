"""DBNClassifier against scikit-learn's MLPClassifier on the embedded MNIST digits.

Both are trained on the 4,000 embedded training digits (grey levels in [0, 1],
float32) and scored on the 1,000 embedded test digits, or, with
``--test-data DIR``, on the official 10,000 MNIST test digits found in DIR:

- ``companion.sklearn.DBNClassifier()`` with its defaults (784-500-500-2000,
  greedy RBM pretraining, then backpropagation);
- ``sklearn.neural_network.MLPClassifier(hidden_layer_sizes=(500, 500))``
  with its defaults (ReLU, Adam, up to 200 epochs with its own stopping rule);
- with ``--ablation``, the DBN's architecture without pretraining
  (``pretrain_epochs=0``), to show what pretraining buys.

Everything runs on one thread (torch, and the BLAS under numpy through
threadpoolctl); set ``OMP_NUM_THREADS=1 MKL_NUM_THREADS=1`` as well so that no
library starts a pool of its own. Because the benchmark machine may be shared,
the fit times reported are the process's user CPU time (``resource``), with the
wall time beside it.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/dbn_classifier.py \\
        [--seeds 0 1] [--ablation] [--no-mlp] [--params '{"pretrain_epochs": 5}'] [--test-data DIR]

With 1,000 test digits one percentage point is ten digits; the official test
set (``--test-data ../shared/data/mnist``) is the one to judge the defaults by.
The figures measured are in the README's Benchmarks section.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import warnings

import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

import companion as cp
from companion.sklearn import DBNClassifier


def user_seconds() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime


def timed_fit(model, X, y):
    cpu, wall = user_seconds(), time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return user_seconds() - cpu, time.perf_counter() - wall


def report(name, model, X, y, Xt, yt):
    cpu, wall = timed_fit(model, X, y)
    acc = model.score(Xt, yt)
    print(f"{name:<38} test accuracy {acc:.4f}  (error {100 * (1 - acc):.1f}%)  "
          f"fit: {cpu:6.1f} s user CPU, {wall:6.1f} s wall, {model.n_iter_} fine-tuning epochs", flush=True)
    return acc, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--ablation", action="store_true", help="also fit the DBN's net without pretraining")
    parser.add_argument("--no-mlp", action="store_true", help="skip MLPClassifier")
    parser.add_argument("--params", default="{}", help="JSON of DBNClassifier parameters to override")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--test-data", metavar="DIR", help="score on the official MNIST test set in DIR")
    args = parser.parse_args()

    torch.set_num_threads(1)
    X, y = cp.data.mnist("train")
    Xt, yt = cp.data.mnist("test", root=args.test_data) if args.test_data else cp.data.mnist("test")
    X, y, Xt, yt = (a.numpy() if hasattr(a, "numpy") else a for a in (X, y, Xt, yt))
    params = json.loads(args.params)
    print(f"{len(X)} training / {len(Xt)} test digits, {X.dtype}; torch threads {torch.get_num_threads()}; "
          f"DBNClassifier overrides {params or 'none'}", flush=True)
    with threadpool_limits(limits=1):
        for seed in args.seeds:
            dbn = DBNClassifier(random_state=seed, device=args.device, **params)
            report(f"DBNClassifier (seed {seed})", dbn, X, y, Xt, yt)
            if args.ablation:
                plain = DBNClassifier(random_state=seed, device=args.device, **{**params, "pretrain_epochs": 0})
                report(f"  same net, no pretraining (seed {seed})", plain, X, y, Xt, yt)
            if not args.no_mlp:
                mlp = MLPClassifier(hidden_layer_sizes=(500, 500), random_state=seed)
                report(f"MLPClassifier(500, 500) (seed {seed})", mlp, X, y, Xt, yt)


if __name__ == "__main__":
    main()
