"""Recommenders on MovieLens 100k's five official folds: the baselines, the RBMs of Salakhutdinov, Mnih &
Hinton (2007) user- and item-based, and I-AutoRec (Sedhain et al. 2015), in one run.

Protocol, the same for every trained model: a seeded 5% of each training fold
is held out as its validation split. The model learns on the other 95%; the
validation ratings pick its settings from a small grid and its number of
epochs (early stopping, best epoch restored), scored as the test fold will be.
The test fold is scored once. The RBMs and AutoRec read *all* the fold's
training ratings as evidence when they predict (matrix factorization's
predictions take no evidence). The closed-form baselines (global mean, biases)
fit all the training ratings and need no validation. Each model of each fold is
one checkpointed step: ``--resume`` continues after the last finished one.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import torch

from ..data import fold_matrices
from ..models import AutoRec, BiasBaseline, GlobalMean, ItemSoftmaxRBM, MatrixFactorization, SoftmaxRBM
from ..recommend import mae, precision_at_k, rmse

DATA = "movielens"
PAPER = {"source": "Sedhain, Menon, Sanner & Xie (2015), WWW, table 1 (MovieLens 1M, 90/10 splits); on "
                   "ml-100k's folds Surprise publishes BaselineOnly 0.944 and SVD 0.934",
         "cite": "sedhain2015autorec",
         "figure": "RMSE on ML-1M: I-AutoRec 0.831, BiasedMF 0.845, I-RBM 0.854, U-RBM 0.881",
         "values": {"rmse_autorec": 0.831, "rmse_mf": 0.845, "rmse_item_rbm": 0.854, "rmse_rbm": 0.881}}
TARGETS = {"cpu": "rmse_rbm < rmse_baseline and rmse_autorec <= rmse_mf"}
CHECKS = {"cpu": lambda m: m["rmse_rbm"] < m["rmse_baseline"] and m["rmse_autorec"] <= m["rmse_mf"]}
MODELS = ("global_mean", "baseline", "mf", "rbm", "item_rbm", "autorec")

_BASE = dict(version="100k", val_fraction=0.05, top_k=10, min_item_ratings=20,
             bias=dict(reg_user=15.0, reg_item=10.0, n_sweeps=10))
BUDGETS = {
    "smoke": {**_BASE, "n_folds": 2, "patience": 2,
              "mf": dict(n_factors=4, reg=[0.05], lr=[0.5], momentum=0.9, batch_size=256, epochs=3),
              "rbm": dict(n_hidden=4, lr=0.1, weight_cost=0.001, momentum=[0.9], batch_size=20, epochs=3,
                          k_schedule=[[0, 1], [2, 3]]),
              "item_rbm": dict(n_hidden=4, lr=0.1, weight_cost=0.001, momentum=[0.9], batch_size=20, epochs=3,
                               k_schedule=[[0, 1], [2, 3]]),
              "autorec": dict(n_hidden=8, reg=[1.0, 30.0], lr=1e-2, batch_size=16, epochs=3)},
    "cpu": {**_BASE, "n_folds": 5, "patience": 10,
            "mf": dict(n_factors=100, reg=[0.02, 0.05], lr=[2.0], momentum=0.9, batch_size=4096, epochs=100),
            # an hour on 2 cores holds two settings per RBM and fold: momentum is chosen, the weight cost fixed
            "rbm": dict(n_hidden=100, lr=0.05, weight_cost=0.003, momentum=[0.5, 0.9], batch_size=100,
                        epochs=150, k_schedule=[[0, 1], [10, 3], [20, 5], [30, 9]]),
            "item_rbm": dict(n_hidden=100, lr=0.1, weight_cost=0.003, momentum=[0.5, 0.9], batch_size=100,
                             epochs=150, k_schedule=[[0, 1], [10, 3], [20, 5], [30, 9]]),
            "autorec": dict(n_hidden=500, reg=[50.0, 100.0, 200.0], lr=1e-3, batch_size=256, epochs=300)},
}
BUDGETS["gpu"] = BUDGETS["paper"] = BUDGETS["cpu"]  # seconds per epoch here: the CPU budget is already the paper's


def run(ctx, s: dict) -> dict:
    ratings, folds = ctx.movielens_folds(s["version"], s["n_folds"])
    users, items = np.unique(ratings["user_id"]), np.unique(ratings["item_id"])
    rng = np.random.default_rng(0)
    results = {name: [] for name in MODELS}
    for i, (train, test) in enumerate(folds, start=1):
        held = rng.random(len(train)) < s["val_fraction"]
        R_fit, R_val = fold_matrices(train[~held], train[held], users, items, device=ctx.device)
        R_train, R_test = fold_matrices(train, test, users, items, device=ctx.device)
        fold = (R_fit, R_val, R_train, R_test)
        for name in MODELS:
            results[name].append(ctx.step(f"fold{i}/{name}", lambda: _score(ctx, s, name, i, fold)))
    ctx.extra_config["chosen"] = {name: [r["chosen"] for r in results[name]] for name in MODELS}
    metrics = {}
    for name in MODELS:
        for metric, key in (("rmse", "rmse"), ("mae", "mae"), ("p_at_k", f"p{s['top_k']}")):
            values = np.array([r[metric] for r in results[name]])
            metrics[f"{key}_{name}"] = float(values.mean())
            metrics[f"{key}_{name}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return metrics


def _score(ctx, s, name, fold, matrices) -> dict:
    """Train model ``name`` on one fold (choosing its settings on the validation split) and score the test fold."""
    R_fit, R_val, R_train, R_test = matrices
    start = time.perf_counter()
    if name in ("global_mean", "baseline"):
        model = GlobalMean() if name == "global_mean" else BiasBaseline(**s["bias"])
        predict, chosen, trained = model.fit(R_train).predict, {}, 1
    else:
        predict, chosen, trained = _tuned(ctx, s, name, R_fit, R_val)
    pred = predict(R_train)
    ctx.add_timing(f"fold{fold}/{name}", time.perf_counter() - start, trained)
    candidates = R_train.mask.sum(0).cpu() >= s["min_item_ratings"]
    out = {"rmse": rmse(pred, R_test), "mae": mae(pred, R_test),
           "p_at_k": precision_at_k(pred, R_train, R_test, k=s["top_k"], candidates=candidates),
           "chosen": chosen}
    print(f"[rbm-cf] fold {fold} {name}: test RMSE {out['rmse']:.4f}, MAE {out['mae']:.4f}, "
          f"P@{s['top_k']} {out['p_at_k']:.4f} {chosen} ({time.perf_counter() - start:.0f} s)", flush=True)
    return out


def _tuned(ctx, s, name, R_fit, R_val):
    """The grid of ``s[name]`` on the validation split.

    Returns the best model's ``predict``, its settings (with its epochs and
    validation RMSE) and the number of epochs the whole grid trained.
    """
    cfg = s[name]
    grid_keys = [k for k, v in cfg.items() if isinstance(v, list) and k != "k_schedule"]
    best, trained = None, 0
    for values in itertools.product(*(cfg[k] for k in grid_keys)):
        chosen = dict(zip(grid_keys, values))
        model, history = _train(ctx, s, name, {**cfg, **chosen}, R_fit, R_val)
        trained += history.epochs
        val = rmse(model.predict(R_fit), R_val)  # the restored epoch, scored as the test fold will be
        if best is None or val < best[0]:
            epochs = history.epochs if history.best_epoch is None else history.best_epoch + 1
            best = (val, model, {**chosen, "epochs": epochs, "val_rmse": round(val, 4)})
    return best[1].predict, best[2], trained


def _train(ctx, s, name, c, R_fit, R_val):
    common = dict(validation=R_val, epochs=c["epochs"], patience=s["patience"], device=ctx.device, seed=0,
                  progress=False)
    n_users, n_items = R_fit.shape
    torch.manual_seed(0)  # the same initial weights for every setting of the grid, and on --resume
    if name == "mf":
        model = MatrixFactorization(n_users, n_items, c["n_factors"], reg=c["reg"])
        return model, model.fit(R_fit, lr=c["lr"], batch_size=c["batch_size"], optimizer="sgd",
                                optimizer_kwargs=dict(momentum=c["momentum"]), **common)
    if name in ("rbm", "item_rbm"):
        model = (SoftmaxRBM(n_items, c["n_hidden"], weight_cost=c["weight_cost"]) if name == "rbm" else
                 ItemSoftmaxRBM(n_users, c["n_hidden"], weight_cost=c["weight_cost"]))
        return model, model.fit(R_fit, lr=c["lr"], momentum=c["momentum"], batch_size=c["batch_size"],
                                k_schedule=dict(c["k_schedule"]), **common)
    model = AutoRec(n_users, n_items, c["n_hidden"], reg=c["reg"])
    return model, model.fit(R_fit, lr=c["lr"], batch_size=c["batch_size"], **common)
