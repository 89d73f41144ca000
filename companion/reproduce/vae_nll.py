"""Burda, Grosse & Salakhutdinov (2016): the 784-200-200-50 VAE (tanh, two
stochastic-free hidden layers each way) on dynamically binarized MNIST, scored by
the importance-weighted bound with k = 5,000 samples on the test set binarized once.
"""

from __future__ import annotations

from ..estimate import iwae_log_likelihood
from ..models import VAE

PAPER = {"source": "Burda, Grosse & Salakhutdinov (2016), ICLR, table 1 (MNIST, one stochastic layer, k = 1)",
         "cite": "burda2016importance", "figure": "VAE 86.76 nats, IWAE (k = 50) 84.78 nats (test NLL, k = 5,000)",
         "values": {"test_nll": 86.76, "iwae_test_nll": 84.78}}
TARGETS = {"cpu": "test_nll <= 90"}

_BASE = dict(dims=[784, 200, 200], latent_dim=50, activation="tanh", batch_size=100, optimizer="adam",
             eval_k=5000)
BUDGETS = {
    "smoke": {**_BASE, "n_train": 600, "n_test": 100, "epochs": 1, "lr": 1e-3, "lr_decay": 1.0, "eval_k": 20},
    "cpu": {**_BASE, "n_train": None, "n_test": None, "epochs": 300, "lr": 1e-3, "lr_decay": 0.995},
    "gpu": {**_BASE, "n_train": None, "n_test": None, "epochs": 1000, "lr": 1e-3, "lr_decay": 0.998},
    "paper": {**_BASE, "n_train": None, "n_test": None, "epochs": 3280, "lr": 1e-3, "lr_decay": 0.9993},
}


def run(ctx, s: dict) -> dict:
    X, _ = ctx.mnist("train", n=s["n_train"])                      # grey levels, binarized afresh every batch
    X_test, _ = ctx.mnist("test", binarize="sample", seed=1, n=s["n_test"])
    vae = VAE(s["dims"], latent_dim=s["latent_dim"], activation=s["activation"], binarize=True)
    ctx.fit(vae, X, key="vae", epochs=s["epochs"], batch_size=s["batch_size"], optimizer=s["optimizer"],
            lr=s["lr"], lr_decay=s["lr_decay"])
    nll = ctx.step("test-nll", lambda: _nll(vae, X_test, s["eval_k"]))
    return {"test_nll": nll[0], "test_nll_se": nll[1]}


def _nll(model, X, k):
    est = iwae_log_likelihood(model, X, k=k, seed=0)
    return [-est.mean, est.stderr]
