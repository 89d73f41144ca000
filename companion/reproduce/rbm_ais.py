"""Salakhutdinov & Murray (2008): a 784-500 binary RBM on stochastically binarized
MNIST, its log Z estimated by annealed importance sampling with the paper's 100
runs of 14,500 temperatures, and the average test log-likelihood that follows.

The paper's best 500-unit model was trained by CD-25; the ``cpu`` and ``gpu``
budgets train by PCD-1 (Tieleman 2008), which reaches a comparable likelihood
for a fraction of the Gibbs steps, and the ``paper`` budget by CD-25. The record's
``config`` says which (``k``, ``persistent``).
"""

from __future__ import annotations

from ..estimate import ais_log_partition, log_likelihood
from ..models import BernoulliRBM

PAPER = {"source": "Salakhutdinov & Murray (2008), ICML, table 2 (MNIST, 500 hidden units, CD-25)",
         "cite": "salakhutdinov2008quantitative", "figure": "-86.34 nats (CD-25)",
         "values": {"test_log_likelihood": -86.34}}
TARGETS = {"cpu": "test_log_likelihood >= -92"}
CHECKS = {"cpu": lambda m: m["test_log_likelihood"] >= -92}

_BASE = dict(n_hidden=500, batch_size=100, optimizer="sgd", momentum=0.9, weight_cost=2e-4, ais_runs=100,
             ais_betas=14500)
BUDGETS = {
    "smoke": {**_BASE, "n_train": 600, "n_test": 200, "k": 1, "persistent": True, "epochs": 1, "lr": 0.005,
              "lr_decay": 1.0, "ais_runs": 10, "ais_betas": 100},
    "cpu": {**_BASE, "n_train": None, "n_test": None, "k": 1, "persistent": True, "epochs": 150, "lr": 0.01,
            "momentum": 0.5, "lr_decay": 0.98},
    "gpu": {**_BASE, "n_train": None, "n_test": None, "k": 1, "persistent": True, "epochs": 60, "lr": 0.01,
            "momentum": 0.5, "lr_decay": 0.95},
    "paper": {**_BASE, "n_train": None, "n_test": None, "k": 25, "persistent": False, "epochs": 300, "lr": 0.005,
              "lr_decay": 0.99},
}


def run(ctx, s: dict) -> dict:
    X, _ = ctx.mnist("train", binarize="sample", seed=0, n=s["n_train"])
    X_test, _ = ctx.mnist("test", binarize="sample", seed=1, n=s["n_test"])
    rbm = BernoulliRBM(784, s["n_hidden"], k=s["k"], persistent=s["persistent"], weight_cost=s["weight_cost"],
                       n_chains=s["batch_size"] if s["persistent"] else None).init_visible_bias(X)
    ctx.fit(rbm, X, key="rbm", epochs=s["epochs"], batch_size=s["batch_size"], optimizer=s["optimizer"],
            lr=s["lr"], lr_decay=s["lr_decay"], optimizer_kwargs={"momentum": s["momentum"]})
    ais = ais_log_partition(rbm, n_chains=s["ais_runs"], n_betas=s["ais_betas"], base=X.to(rbm.W.device), seed=0)
    test = log_likelihood(rbm, X_test, ais)
    train = log_likelihood(rbm, X, ais)
    return {"test_log_likelihood": test.mean, "test_log_likelihood_se": test.stderr,
            "train_log_likelihood": train.mean, "train_log_likelihood_se": train.stderr,
            "log_z": ais.log_z, "log_z_interval": [ais.lower, ais.upper]}
