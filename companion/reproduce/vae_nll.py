"""Burda, Grosse & Salakhutdinov (2016): the 784-200-200-50 VAE (tanh, two
deterministic hidden layers each way) on dynamically binarized MNIST, scored by
the importance-weighted bound with k = 5,000 samples on the test set binarized once.
The second row trains the same architecture on the IWAE objective with ``iwae_k``
samples (50 in the paper; fewer in the ``cpu`` budget, where it costs ``iwae_k``
times the VAE's decoder passes).
"""

from __future__ import annotations

from ..estimate import iwae_log_likelihood
from ..models import VAE

PAPER = {"source": "Burda, Grosse & Salakhutdinov (2016), ICLR, table 1 (MNIST, one stochastic layer, k = 1)",
         "cite": "burda2016importance", "figure": "VAE 86.76 nats, IWAE (k = 50) 84.78 nats, IWAE (k = 5) 85.54 nats (test NLL, k = 5,000)",
         "values": {"test_nll": 86.76, "iwae_test_nll": 84.78}}
TARGETS = {"cpu": "test_nll <= 90"}
CHECKS = {"cpu": lambda m: m["test_nll"] <= 90}

_BASE = dict(dims=[784, 200, 200], latent_dim=50, activation="tanh", batch_size=100, optimizer="adam",
             eval_k=5000)
BUDGETS = {
    "smoke": {**_BASE, "n_train": 600, "n_test": 100, "epochs": 1, "lr": 1e-3, "lr_decay": 1.0, "eval_k": 20,
              "iwae_k": 3, "iwae_epochs": 1},
    "cpu": {**_BASE, "n_train": None, "n_test": None, "epochs": 185, "lr": 1e-3, "lr_decay": 0.992, "iwae_k": 5,
            "iwae_epochs": 40},
    "gpu": {**_BASE, "n_train": None, "n_test": None, "epochs": 50, "lr": 1e-3, "lr_decay": 0.97,
            "iwae_k": 50, "iwae_epochs": 20},
    "paper": {**_BASE, "n_train": None, "n_test": None, "epochs": 3280, "lr": 1e-3, "lr_decay": 0.9993,
              "iwae_k": 50, "iwae_epochs": 3280},
}


def run(ctx, s: dict) -> dict:
    X, _ = ctx.mnist("train", n=s["n_train"])                      # grey levels, binarized afresh every batch
    X_test, _ = ctx.mnist("test", binarize="sample", seed=1, n=s["n_test"])
    vae = _train(ctx, s, X, k=1, epochs=s["epochs"], lr_decay=s["lr_decay"])
    nll = ctx.step("test-nll", lambda: _nll(vae, X_test, s["eval_k"]))
    # the IWAE row ends at the same learning rate as the VAE in fewer epochs
    iwae = _train(ctx, s, X, k=s["iwae_k"], epochs=s["iwae_epochs"],
                  lr_decay=s["lr_decay"] ** (s["epochs"] / s["iwae_epochs"]))
    iwae_nll = ctx.step("iwae-test-nll", lambda: _nll(iwae, X_test, s["eval_k"]))
    return {"test_nll": nll[0], "test_nll_se": nll[1], "iwae_test_nll": iwae_nll[0], "iwae_test_nll_se": iwae_nll[1]}


def _train(ctx, s, X, k, epochs, lr_decay):
    vae = VAE(s["dims"], latent_dim=s["latent_dim"], activation=s["activation"], k=k, binarize=True)
    ctx.fit(vae, X, key=f"vae-k{k}", epochs=epochs, batch_size=s["batch_size"], optimizer=s["optimizer"], lr=s["lr"],
            lr_decay=lr_decay)
    return vae


def _nll(model, X, k):
    est = iwae_log_likelihood(model, X, k=k, seed=0)
    return [-est.mean, est.stderr]
