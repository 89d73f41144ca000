"""Time one CD-1 epoch of companion's RBM against scikit-learn's and learnergy's.

Same data (the 5,000 embedded MNIST digits, grey levels in [0, 1], float32),
same size (784 visible, 256 hidden), batch 100, SGD with learning rate 0.1,
ten epochs per timed run (``--epochs``; scikit-learn's ``n_iter`` default, and
the drop-in's setup is part of its ``fit``). Runs alternate
between the libraries so that all see the same machine state; the first round
is a warm-up and is discarded. Prints median epoch times and the ratios
(companion / peer). Each library does what its ``fit`` does per update:

- companion: ``cp.fit`` on ``companion.models.BernoulliRBM`` (CD-1; the loss,
  reconstruction error and free energy are recorded on one batch in ten,
  ``companion.monitor.monitored_batches``: the other updates run
  ``loss(batch, monitor=False)``, which skips the two free energies);
- companion.sklearn: the drop-in's whole ``fit`` (PCD-1, as scikit-learn, through the same
  ``cp.fit``; input validation and the fitted attributes included);
- scikit-learn: ``sklearn.neural_network.BernoulliRBM`` (PCD-1, numpy float32);
- learnergy (if installed: ``pip install -r benchmarks/requirements.txt``):
  ``learnergy.models.bernoulli.RBM`` (CD-1 through a DataLoader; it also
  computes a pseudo-likelihood every batch, which is part of its epoch).

Two floors run in the same rotation, to show how much of an epoch any PyTorch
implementation of the update must spend on this machine:

- ``floor: 5 matmuls``: only the five matrix products of a CD-1 update
  (v->h, h->v, v'->h', and the two outer products of the gradient);
- ``floor: bare CD-1``: the whole update written out by hand with no ``fit``,
  no optimizer and no monitoring: buffers allocated once, torch's generator,
  the weights updated in place by ``addmm_``.

Then times AIS (chains x temperatures) on the trained 784x256 RBM, and on a
GPU (``--device cuda``) a full-size epoch: 60,000 images, batch 100.

``--breakdown 1500`` then times, batch by batch and interleaved, the layers
between that floor and companion's update: fresh tensors and a gradient formed
before it is applied (what an optimizer needs), companion's ``loss`` +
``backward`` + SGD step on the batches ``fit`` does not record, and the
monitoring (free energies, reconstruction error) of those it does.

    python benchmarks/rbm_cd.py [--repeats 5] [--epochs 10] [--device cpu] [--ais-betas 2000] [--breakdown 1500]

On the 2-core CPU this course is built on (AMD EPYC, 2 threads), two runs on
5 December 2026 (``--repeats 5``) put companion at 0.69 and 0.69 of
scikit-learn's epoch, the drop-in at 0.70 and 0.69, the bare loop at 0.62 and
0.57 (before ``fit`` stopped measuring nine batches in ten: companion
0.77-0.83, the drop-in 0.76-0.87): the machine's noise moves every figure
between runs, so compare ratios within one run. ``--breakdown 1500`` gave, per
batch of 100: floor 2.4 ms; fresh tensors and a separate gradient +0.3 ms;
companion's ``loss`` + ``backward`` + SGD on an unmonitored batch +0.9 ms; the
monitoring of a recorded batch +0.2 ms more (between runs these steps move by
a few tenths of a millisecond).
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
from companion.models.rbm import bernoulli
from companion.train import _batches as _fit_batches

EPOCHS = 10  # per timed run (--epochs); the GPU's full-size run times FULL_EPOCHS
FULL_EPOCHS = 3
N_HIDDEN, BATCH, LR = 256, 100, 0.1


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def companion_run(X, device, epochs):
    rbm = BernoulliRBM(784, N_HIDDEN)
    start = time.perf_counter()
    cp.fit(rbm, X, epochs=epochs, batch_size=BATCH, optimizer="sgd", lr=LR, device=device, progress=False)
    sync(device)
    return (time.perf_counter() - start) / epochs


def _batches(X, generator):
    """One epoch's shuffled batches, cut as ``cp.fit`` cuts them (fit hands the model 1-tuples; the steps here
    take the tensor)."""
    return [v for (v,) in _fit_batches((X,), BATCH, torch.randperm(len(X), generator=generator), X.device)]


def _timed_epochs(X, device, step, epochs):
    """Seconds per epoch of ``step(batch)`` over ``epochs`` shuffled epochs of X on ``device``."""
    X = X.to(device)
    gen = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(epochs):
        for v in _batches(X, gen):
            step(v)
    sync(device)
    return (time.perf_counter() - start) / epochs


def floor_matmul_run(X, device, epochs):
    W = torch.randn(784, N_HIDDEN, device=device) * 0.01
    h, h2 = torch.rand(BATCH, N_HIDDEN, device=device), torch.empty(BATCH, N_HIDDEN, device=device)
    v2, grad = torch.empty(BATCH, 784, device=device), torch.empty(784, N_HIDDEN, device=device)

    def five_matmuls(v):
        torch.mm(v, W, out=h2)
        torch.mm(h, W.t(), out=v2)
        torch.mm(v2, W, out=h2)
        torch.mm(v.t(), h2, out=grad)
        grad.addmm_(v2.t(), h2)

    return _timed_epochs(X, device, five_matmuls, epochs)


class _BareCD:
    """CD-1 for a 784 -> N_HIDDEN RBM written out by hand, with plain SGD and no ``fit``.

    ``step(v0)`` is the floor: buffers allocated once, the weights updated in
    place by ``addmm_``, nothing recorded. ``fresh=True`` allocates every tensor
    and forms the gradient before applying it, as an optimizer needs.
    """

    def __init__(self, device):
        self.W = torch.randn(784, N_HIDDEN, device=device) * 0.01
        self.b, self.c = torch.zeros(784, device=device), torch.zeros(N_HIDDEN, device=device)
        self.p_h0, self.h0, self.p_hn = (torch.empty(BATCH, N_HIDDEN, device=device) for _ in range(3))
        self.p_v, self.v_neg = torch.empty(BATCH, 784, device=device), torch.empty(BATCH, 784, device=device)

    def step(self, v0, fresh=False):
        W, b, c = self.W, self.b, self.c
        if not fresh:
            p_h0, h0, p_v, v_neg, p_hn = self.p_h0, self.h0, self.p_v, self.v_neg, self.p_hn
            torch.addmm(c, v0, W, out=p_h0).sigmoid_()
            torch.lt(h0.uniform_(), p_h0, out=h0)
            torch.addmm(b, h0, W.t(), out=p_v).sigmoid_()
            torch.lt(v_neg.uniform_(), p_v, out=v_neg)
            torch.addmm(c, v_neg, W, out=p_hn).sigmoid_()
            step = LR / len(v0)
            W.addmm_(v0.t(), p_h0, alpha=step).addmm_(v_neg.t(), p_hn, alpha=-step)
            b.add_(v0.sum(0) - v_neg.sum(0), alpha=step)
            c.add_(p_h0.sum(0) - p_hn.sum(0), alpha=step)
            return
        p_h0 = torch.sigmoid(torch.addmm(c, v0, W))
        v_neg = bernoulli(torch.sigmoid(torch.addmm(b, bernoulli(p_h0), W.t())))
        p_hn = torch.sigmoid(torch.addmm(c, v_neg, W))
        n = len(v0)
        grad_W = torch.mm(v_neg.t(), p_hn).addmm_(v0.t(), p_h0, beta=1 / n, alpha=-1 / n)
        W.sub_(grad_W, alpha=LR)
        b.sub_(v_neg.mean(0) - v0.mean(0), alpha=LR)
        c.sub_(p_hn.mean(0) - p_h0.mean(0), alpha=LR)


def floor_cd_run(X, device, epochs):
    return _timed_epochs(X, device, _BareCD(device).step, epochs)


def breakdown(X, device, rounds: int) -> None:
    """Per-batch cost of each layer between the bare update and companion's, interleaved batch by batch."""
    X = X.to(device)
    bare = _BareCD(device)
    rbm = BernoulliRBM(784, N_HIDDEN).to(device)
    opt = torch.optim.SGD(rbm.parameters(), lr=LR)

    def companion_step(v0, monitor):
        opt.zero_grad(set_to_none=True)
        loss, _ = rbm.loss(v0, monitor=monitor)
        loss.backward()
        opt.step()

    layers = {
        "bare CD-1 update (the floor)": bare.step,
        "+ fresh tensors, gradient formed then applied": lambda v0: bare.step(v0, fresh=True),
        "companion: loss + backward + SGD, 9 batches in 10": lambda v0: companion_step(v0, False),
        "+ monitoring (free energies, recon), 1 in 10": lambda v0: companion_step(v0, True),
    }
    batches = _batches(X, torch.Generator().manual_seed(0))
    times = {name: [] for name in layers}
    for i in range(rounds):
        for name, step in layers.items():
            start = time.perf_counter()
            step(batches[i % len(batches)])
            sync(device)
            times[name].append(time.perf_counter() - start)
    print(f"per-batch breakdown, median of {rounds} interleaved batches:")
    previous = None
    for name, ts in times.items():
        median = statistics.median(ts) * 1e6
        step_up = "" if previous is None else f"  ({median - previous:+.0f})"
        print(f"  {name:<52} {median:7.0f} µs{step_up}")
        previous = median


def dropin_run(X, device, epochs):
    from companion.sklearn import BernoulliRBM as DropIn

    rbm = DropIn(n_components=N_HIDDEN, learning_rate=LR, batch_size=BATCH, n_iter=epochs, device=str(device))
    Xn = X.cpu().numpy()
    start = time.perf_counter()
    rbm.fit(Xn)
    return (time.perf_counter() - start) / epochs


def sklearn_run(X, device, epochs):
    from sklearn.neural_network import BernoulliRBM as SkRBM

    rbm = SkRBM(n_components=N_HIDDEN, learning_rate=LR, batch_size=BATCH, n_iter=epochs)
    Xn = X.cpu().numpy().astype(np.float32)
    start = time.perf_counter()
    rbm.fit(Xn)
    return (time.perf_counter() - start) / epochs


def learnergy_run(X, device, epochs):
    from learnergy.models.bernoulli import RBM
    from torch.utils.data import TensorDataset

    rbm = RBM(n_visible=784, n_hidden=N_HIDDEN, steps=1, learning_rate=LR, use_gpu=device.type == "cuda")
    data = TensorDataset(X.cpu(), torch.zeros(len(X)))
    start = time.perf_counter()
    rbm.fit(data, batch_size=BATCH, epochs=epochs)
    sync(device)
    return (time.perf_counter() - start) / epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="epochs per timed run")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--ais-chains", type=int, default=100)
    parser.add_argument("--ais-betas", type=int, default=2000)
    parser.add_argument("--breakdown", type=int, default=0, metavar="BATCHES",
                        help="also time the layers between the bare update and companion's, batch by batch")
    args = parser.parse_args()
    device = cp.get_device(args.device)

    X_train, _ = cp.data.mnist("train", verbose=False)
    X_test, _ = cp.data.mnist("test", verbose=False)
    X = torch.cat([X_train, X_test]).reshape(-1, 784).float()
    runs = {"companion": companion_run, "companion.sklearn": dropin_run, "scikit-learn": sklearn_run,
            "floor: 5 matmuls": floor_matmul_run, "floor: bare CD-1": floor_cd_run}
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
            seconds = run(X, device, args.epochs)
            if repeat:
                times[name].append(seconds)
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    for name, median in medians.items():
        runs_ms = ", ".join(f"{t * 1000:.0f}" for t in times[name])
        print(f"{name:<18} median CD-1 epoch {median * 1000:8.1f} ms  (runs: {runs_ms})")
    # the targets: companion's CD-1 epoch and the drop-in's fit at most 0.8 of scikit-learn's (issue 18)
    for peer, target, judged in (("scikit-learn", 0.8, ("companion", "companion.sklearn")),
                                 ("learnergy", 0.4, ("companion",))):
        if peer not in medians:
            continue
        ratios = {name: medians[name] / medians[peer]
                  for name in ("companion", "companion.sklearn", "floor: 5 matmuls", "floor: bare CD-1")}
        listed = ", ".join(f"{name} {ratio:.2f}" for name, ratio in ratios.items())
        met = ", ".join(f"{name} {'met' if ratios[name] <= target else 'not met'}" for name in judged)
        print(f"/ {peer}: {listed}   (target <= {target}: {met})")

    if args.breakdown:
        breakdown(X, device, args.breakdown)

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
        cp.fit(rbm, full, epochs=FULL_EPOCHS, batch_size=BATCH, optimizer="sgd", lr=LR, device=device, progress=False)
        sync(device)
        print(f"full-size epoch on {torch.cuda.get_device_name()}: 60,000 x 784 -> 500, batch {BATCH}: "
              f"{(time.perf_counter() - start) / FULL_EPOCHS:.2f} s")


if __name__ == "__main__":
    main()
