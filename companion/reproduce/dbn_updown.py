"""Hinton, Osindero & Teh (2006): the 784-500-500-2000 DBN whose top RBM also sees
the ten label units, pretrained greedily and fine-tuned by the up-down algorithm
(contrastive wake-sleep); a digit is classified by the label of lowest free
energy in the top RBM after a deterministic up pass (:meth:`DBN.predict`).
"""

from __future__ import annotations

from ..models import DBN
from .runner import error_se

PAPER = {"source": "Hinton, Osindero & Teh (2006), Neural Computation 18, table 1",
         "cite": "hinton2006fast", "figure": "1.25% test error",
         "values": {"test_error": 0.0125}}
TARGETS = {"cpu": "test_error <= 0.020"}
CHECKS = {"cpu": lambda m: m["test_error"] <= 0.020}

_BASE = dict(layers=[784, 500, 500, 2000], n_labels=10, rbm_lr=0.05, rbm_momentum=0.9, weight_cost=2e-4,
             batch_size=100, updown_lr=0.01, updown_momentum=0.5)
BUDGETS = {
    "smoke": {**_BASE, "n_train": 600, "n_test": 200, "rbm_epochs": 1, "updown_epochs": 1, "top_k": 3},
    "cpu": {**_BASE, "n_train": None, "n_test": None, "rbm_epochs": [10, 10, 40], "updown_epochs": 80,
            "top_k": 3},
    "gpu": {**_BASE, "n_train": None, "n_test": None, "rbm_epochs": [5, 5, 15], "updown_epochs": 20,
            "top_k": 3},
    "paper": {**_BASE, "n_train": None, "n_test": None, "rbm_epochs": [30, 30, 300], "updown_epochs": 300,
              "top_k": 10},
}


def run(ctx, s: dict) -> dict:
    X, y = ctx.mnist("train", n=s["n_train"])
    X_test, y_test = ctx.mnist("test", n=s["n_test"])
    dbn = DBN(s["layers"], n_labels=s["n_labels"], weight_cost=s["weight_cost"])
    dbn.pretrain(X, y, epochs=s["rbm_epochs"], lr=s["rbm_lr"], batch_size=s["batch_size"],
                 momentum=s["rbm_momentum"], fit_fn=ctx.fit_fn("pretrain"))
    greedy = ctx.step("greedy-test-error", lambda: dbn.error_rate(X_test, y_test))
    dbn.up_down(X, y, epochs=s["updown_epochs"], lr=s["updown_lr"], batch_size=s["batch_size"], top_k=s["top_k"],
                momentum=s["updown_momentum"], fit_fn=ctx.fit_fn("up-down"))
    error = dbn.error_rate(X_test, y_test)
    n = len(y_test)
    return {"test_error": error, "test_error_se": error_se(error, n),
            "greedy_test_error": greedy, "greedy_test_error_se": error_se(greedy, n)}
