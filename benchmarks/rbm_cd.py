"""Time one CD-1 epoch of companion's RBM against scikit-learn's and learnergy's.

Same data (the 5,000 embedded MNIST digits, grey levels in [0, 1], float32),
same size (784 visible, 256 hidden), batch 100, SGD with learning rate 0.1,
three epochs per timed run so that one-off setup is amortized. Runs alternate
between the libraries so that all see the same machine state; the first round
is a warm-up and is discarded. Prints median epoch times and the ratios
(companion / peer). Each library does what its ``fit`` does per update:

- companion: ``cp.fit`` on ``companion.models.BernoulliRBM`` (CD-1; the
  reconstruction error and free energy are recorded every batch);
- companion.sklearn: the drop-in (PCD-1, as scikit-learn);
- scikit-learn: ``sklearn.neural_network.BernoulliRBM`` (PCD-1, numpy float32);
- learnergy (if installed: ``pip install -r benchmarks/requirements.txt``):
  ``learnergy.models.bernoulli.RBM`` (CD-1 through a DataLoader; it also
  computes a pseudo-likelihood every batch, which is part of its epoch).

Then times AIS (chains x temperatures) on the trained 784x256 RBM, and on a
GPU (``--device cuda``) a full-size epoch: 60,000 images, batch 100.

    python benchmarks/rbm_cd.py [--repeats 5] [--device cpu] [--ais-betas 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import companion as cp
from companion.estimate import ais_log_partition
from companion.models import BernoulliRBM

EPOCHS = 3
N_HIDDEN, BATCH, LR = 256, 100, 0.1


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def companion_run(X, device):
    rbm = BernoulliRBM(784, N_HIDDEN)
    start = time.perf_counter()
    cp.fit(rbm, X, epochs=EPOCHS, batch_size=BATCH, optimizer="sgd", lr=LR, device=device, progress=False)
    sync(device)
    return (time.perf_counter() - start) / EPOCHS


def dropin_run(X, device):
    from companion.sklearn import BernoulliRBM as DropIn

    rbm = DropIn(n_components=N_HIDDEN, learning_rate=LR, batch_size=BATCH, n_iter=EPOCHS, device=str(device))
    Xn = X.cpu().numpy()
    start = time.perf_counter()
    rbm.fit(Xn)
    return (time.perf_counter() - start) / EPOCHS


def sklearn_run(X, device):
    from sklearn.neural_network import BernoulliRBM as SkRBM

    rbm = SkRBM(n_components=N_HIDDEN, learning_rate=LR, batch_size=BATCH, n_iter=EPOCHS)
    Xn = X.cpu().numpy().astype(np.float32)
    start = time.perf_counter()
    rbm.fit(Xn)
    return (time.perf_counter() - start) / EPOCHS


def learnergy_run(X, device):
    from learnergy.models.bernoulli import RBM
    from torch.utils.data import TensorDataset

    rbm = RBM(n_visible=784, n_hidden=N_HIDDEN, steps=1, learning_rate=LR, use_gpu=device.type == "cuda")
    data = TensorDataset(X.cpu(), torch.zeros(len(X)))
    start = time.perf_counter()
    rbm.fit(data, batch_size=BATCH, epochs=EPOCHS)
    sync(device)
    return (time.perf_counter() - start) / EPOCHS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--ais-chains", type=int, default=100)
    parser.add_argument("--ais-betas", type=int, default=2000)
    args = parser.parse_args()
    device = cp.get_device(args.device)

    X_train, _ = cp.data.mnist("train", verbose=False)
    X_test, _ = cp.data.mnist("test", verbose=False)
    X = torch.cat([X_train, X_test]).reshape(-1, 784).float()
    runs = {"companion": companion_run, "companion.sklearn": dropin_run, "scikit-learn": sklearn_run}
    try:
        import learnergy  # noqa: F401

        runs["learnergy"] = learnergy_run
    except ImportError:
        print("learnergy is not installed (pip install -r benchmarks/requirements.txt): skipped")
    print(f"device {device}, {len(X):,} images, 784 -> {N_HIDDEN}, batch {BATCH}, "
          f"torch threads {torch.get_num_threads()}")

    times = {name: [] for name in runs}
    for repeat in range(args.repeats + 1):
        for name, run in runs.items():
            torch.manual_seed(repeat)
            seconds = run(X, device)
            if repeat:
                times[name].append(seconds)
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    for name, median in medians.items():
        runs_ms = ", ".join(f"{t * 1000:.0f}" for t in times[name])
        print(f"{name:<18} median CD-1 epoch {median * 1000:8.1f} ms  (runs: {runs_ms})")
    for peer in ("scikit-learn", "learnergy"):
        if peer in medians:
            print(f"companion / {peer} = {medians['companion'] / medians[peer]:.2f}")

    # AIS cost grows with chains x temperatures x the two matmuls per Gibbs step
    rbm = BernoulliRBM(784, N_HIDDEN).init_visible_bias(X)
    cp.fit(rbm, X, epochs=2, batch_size=BATCH, optimizer="sgd", lr=LR, device=device, progress=False, seed=0)
    start = time.perf_counter()
    result = ais_log_partition(rbm, n_chains=args.ais_chains, n_betas=args.ais_betas, base=X)
    sync(device)
    seconds = time.perf_counter() - start
    per = seconds / (args.ais_chains * args.ais_betas) * 1e6
    print(f"AIS {args.ais_chains} chains x {args.ais_betas} temperatures: {seconds:.2f} s "
          f"({per:.2f} µs per chain-temperature; 100 x 14,500 would take ≈{per * 1.45:.1f} s); {result}")

    if device.type == "cuda":
        full = (torch.rand(60000, 784, device=device) < X.mean(0).to(device)).float()
        rbm = BernoulliRBM(784, 500)
        cp.fit(rbm, full[:1000], epochs=1, batch_size=BATCH, optimizer="sgd", lr=LR, device=device, progress=False)
        start = time.perf_counter()
        cp.fit(rbm, full, epochs=EPOCHS, batch_size=BATCH, optimizer="sgd", lr=LR, device=device, progress=False)
        sync(device)
        print(f"full-size epoch on {torch.cuda.get_device_name()}: 60,000 x 784 -> 500, batch {BATCH}: "
              f"{(time.perf_counter() - start) / EPOCHS:.2f} s")


if __name__ == "__main__":
    main()
