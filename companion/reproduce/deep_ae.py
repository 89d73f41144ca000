"""Hinton & Salakhutdinov (2006): the RBM-pretrained 784-1000-500-250-30 autoencoder against PCA(30).

Greedy pretraining of four RBMs (the top one with linear Gaussian code units)
through :meth:`DBN.pretrain`, unrolled by :meth:`DBN.to_autoencoder`, then
fine-tuned on the cross-entropy error (Adam here, where the paper used
conjugate gradients). Both models are scored by the squared reconstruction
error per test image, summed over the 784 pixels.
"""

from __future__ import annotations

from ..models import DBN, PCA

PAPER = {"source": "Hinton & Salakhutdinov (2006), Science 313, p. 506 (MNIST, text and fig. 3B)",
         "cite": "hinton2006reducing", "figure": "3.00 vs PCA 13.87 (squared error per test image)",
         "values": {"test_sse": 3.00, "pca_test_sse": 13.87}}
TARGETS = {"cpu": "test_sse <= 4.0 and <= 0.3 * pca_test_sse"}
CHECKS = {"cpu": lambda m: m["test_sse"] <= 4.0 and m["test_sse"] <= 0.3 * m["pca_test_sse"]}

_BASE = dict(dims=[784, 1000, 500, 250, 30], rbm_lr=[0.1, 0.1, 0.1, 0.001], rbm_momentum=0.9, weight_cost=2e-4,
             rbm_batch_size=100, optimizer="adam", batch_size=128, n_components=30)
BUDGETS = {
    "smoke": {**_BASE, "n_train": 600, "n_test": 200, "rbm_epochs": [1, 1, 1, 1], "epochs": 1, "lr": 1e-3,
              "lr_decay": 1.0},
    "cpu": {**_BASE, "n_train": None, "n_test": None, "rbm_epochs": [10, 10, 10, 20], "epochs": 100, "lr": 1e-3,
            "lr_decay": 0.98},
    "gpu": {**_BASE, "n_train": None, "n_test": None, "rbm_epochs": [5, 5, 5, 10], "epochs": 35, "lr": 1e-3,
            "lr_decay": 0.95},
    "paper": {**_BASE, "n_train": None, "n_test": None, "rbm_epochs": [50, 50, 50, 50], "epochs": 200, "lr": 1e-3,
              "lr_decay": 0.985},
}


def run(ctx, s: dict) -> dict:
    X, _ = ctx.mnist("train", n=s["n_train"])
    X_test, _ = ctx.mnist("test", n=s["n_test"])
    dbn = DBN(s["dims"], top_hidden="gaussian", weight_cost=s["weight_cost"])
    dbn.pretrain(X, epochs=s["rbm_epochs"], lr=s["rbm_lr"], batch_size=s["rbm_batch_size"],
                 momentum=s["rbm_momentum"], fit_fn=ctx.fit_fn("pretrain"))
    ae = dbn.to_autoencoder()
    ctx.fit(ae, X, key="finetune", epochs=s["epochs"], batch_size=s["batch_size"], optimizer=s["optimizer"],
            lr=s["lr"], lr_decay=s["lr_decay"])
    sse = ae.reconstruction_error(X_test).double()
    pca = PCA(s["n_components"]).fit(X)
    pca_sse = pca.reconstruction_error(X_test).double()
    n = len(X_test)
    return {"test_sse": sse.mean().item(), "test_sse_se": (sse.std() / n**0.5).item(),
            "pca_test_sse": pca_sse.mean().item(), "pca_test_sse_se": (pca_sse.std() / n**0.5).item()}
