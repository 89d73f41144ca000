"""Salakhutdinov & Hinton (2009): a 784-500-1000 deep Boltzmann machine on
stochastically binarized MNIST, pretrained by a stack of RBMs with doubled weights
(:meth:`DBM.pretrain`), trained jointly by mean-field for the data and persistent
chains for the model (:meth:`DBM.loss` through ``fit``), its log Z by AIS over h1
and the mean-field lower bound on the test log-likelihood.

Classification follows the paper's section 4: the DBM initializes a feed-forward
net whose first layer sees the pixels *and* the mean-field posterior of h2,
:math:`\\sigma(v W_0 + q(h^2) W_1^\\top + b_1)`, then h2 and a 10-way softmax;
the net is fine-tuned by backpropagation.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models import DBM, Classifier
from .runner import error_se

PAPER = {"source": "Salakhutdinov & Hinton (2009), AISTATS, sec. 4.1 (MNIST, 784-500-1000 DBM)",
         "cite": "salakhutdinov2009deep", "figure": "-84.62 nats (variational bound), 0.95% test error",
         "values": {"test_log_likelihood_bound": -84.62, "test_error": 0.0095}}
TARGETS = {"cpu": "test_log_likelihood_bound >= -100 and test_error <= 0.020"}
CHECKS = {"cpu": lambda m: m["test_log_likelihood_bound"] >= -100 and m["test_error"] <= 0.020}

_BASE = dict(layers=[784, 500, 1000], n_chains=100, weight_cost=2e-4, batch_size=100, pretrain_lr=0.05,
             optimizer="sgd", momentum=0.5, lr=0.005, eval_steps=30, ais_runs=100, ais_betas=14500,
             clf_lr=0.1, clf_momentum=0.9)
BUDGETS = {
    "smoke": {**_BASE, "n_train": 600, "n_test": 200, "pretrain_epochs": 1, "epochs": 1, "mean_field_steps": 3,
              "lr_decay": 1.0, "ais_runs": 10, "ais_betas": 100, "eval_steps": 5, "clf_epochs": 1,
              "clf_lr_decay": 1.0},
    "cpu": {**_BASE, "n_train": None, "n_test": None, "pretrain_epochs": 15, "epochs": 40, "mean_field_steps": 10,
            "lr_decay": 0.96, "clf_epochs": 20, "clf_lr_decay": 0.9},
    "gpu": {**_BASE, "n_train": None, "n_test": None, "pretrain_epochs": 5, "epochs": 15,
            "mean_field_steps": 10, "lr_decay": 0.9, "clf_epochs": 10, "clf_lr_decay": 0.8},
    "paper": {**_BASE, "n_train": None, "n_test": None, "pretrain_epochs": 100, "epochs": 500,
              "mean_field_steps": 10, "lr_decay": 0.995, "clf_epochs": 100, "clf_lr_decay": 0.97},
}


def classifier_from(dbm: DBM, n_classes: int = 10) -> Classifier:
    """SH2009's discriminative net: input ``[v, q(h2)]`` -> h1 -> h2 -> softmax, started at the DBM's weights."""
    (W0, W1), (_, b1, b2) = dbm.weights, dbm.biases
    n0, n1, n2 = dbm.layer_sizes
    net = Classifier(nn.Linear(n0 + n2, n1), nn.Sigmoid(), nn.Linear(n1, n2), nn.Sigmoid(), nn.Linear(n2, n_classes))
    with torch.no_grad():
        net[0].weight.copy_(torch.cat([W0, W1.T], 0).T)
        net[0].bias.copy_(b1)
        net[2].weight.copy_(W1.T)
        net[2].bias.copy_(b2)
    return net.to(W0.device)


def run(ctx, s: dict) -> dict:
    X, y = ctx.mnist("train", binarize="sample", seed=0, n=s["n_train"])
    X_test, y_test = ctx.mnist("test", binarize="sample", seed=1, n=s["n_test"])
    dbm = DBM(s["layers"], n_chains=s["n_chains"], mean_field_steps=s["mean_field_steps"],
              weight_cost=s["weight_cost"])
    dbm.pretrain(X, epochs=s["pretrain_epochs"], lr=s["pretrain_lr"], batch_size=s["batch_size"],
                 fit_fn=ctx.fit_fn("pretrain"))
    ctx.fit(dbm, X, key="dbm", epochs=s["epochs"], batch_size=s["batch_size"], optimizer=s["optimizer"],
            lr=s["lr"], lr_decay=s["lr_decay"], optimizer_kwargs={"momentum": s["momentum"]})
    dev = dbm.weights[0].device
    ais = dbm.ais_log_partition(n_chains=s["ais_runs"], n_betas=s["ais_betas"], base=X.to(dev), seed=0)
    bound = dbm.log_likelihood_bound(X_test, log_z=ais, steps=s["eval_steps"])

    def features(V):
        return torch.cat([V, torch.cat([dbm.mean_field(v.to(dev), steps=s["eval_steps"])[1].cpu()
                                        for v in V.split(2048)])], 1)

    F_train, F_test = features(X), features(X_test)
    net = classifier_from(dbm)
    ctx.fit(net, (F_train, y), key="classifier", epochs=s["clf_epochs"], batch_size=s["batch_size"],
            optimizer="sgd", lr=s["clf_lr"], lr_decay=s["clf_lr_decay"],
            optimizer_kwargs={"momentum": s["clf_momentum"]})
    error = net.error_rate(F_test, y_test)
    return {"test_log_likelihood_bound": bound.mean, "test_log_likelihood_bound_se": bound.stderr,
            "log_z": ais.log_z, "log_z_interval": [ais.lower, ais.upper],
            "test_error": error, "test_error_se": error_se(error, len(y_test))}
