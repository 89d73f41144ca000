"""The up-down rule of Hinton, Osindero & Teh (2006), as a module that :func:`companion.fit` trains.

:meth:`companion.models.DBN.up_down` wraps its DBN in :class:`UpDown` and hands
it to ``fit``: the wake phase (a stochastic up pass) trains the generative
weights, CD-``top_k`` in the top RBM from the up pass trains the associative
memory, and the sleep phase (a down pass from the top RBM's fantasy) trains
the recognition weights. None of the three is the gradient of a computable
loss, so :func:`companion.utils.given_gradients` passes their updates to the
optimizer.
"""

from __future__ import annotations

import torch
from torch import nn

from ..utils import given_gradients
from .classifier import one_hot
from .rbm import bernoulli


class UpDown(nn.Module):
    """Wraps a DBN so that :func:`companion.fit` runs its up-down rule; shares its parameters."""

    supports_amp = False

    def __init__(self, dbn, top_k: int):
        super().__init__()
        self.dbn, self.top_k = dbn, top_k

    def check_data(self, X):
        self.dbn.check_data(X)

    def loss(self, batch, generator: torch.Generator | None = None, monitor: bool = True):
        dbn = self.dbn
        parts = batch if isinstance(batch, (tuple, list)) else (batch,)
        x0, y = parts[0], (parts[1] if len(parts) > 1 else None)
        top, L, nf = dbn.top, len(dbn.rec_W), dbn.layer_sizes[-2]
        n = len(x0)
        with torch.no_grad():
            # wake: a stochastic up pass with the recognition weights
            wake = [x0]
            for l in range(L):
                wake.append(bernoulli(dbn.up(l, wake[-1]), generator))
            pen = wake[-1]
            vis_pos = pen if y is None else torch.cat([pen, one_hot(y, dbn.n_labels, pen.dtype)], 1)
            h_pos = top._hidden_mean(top.hidden_input(vis_pos))
            # the top RBM: CD-top_k from the up pass
            h = top._hidden_sample(h_pos, generator)
            for _ in range(self.top_k):
                p_vis = top.p_v_given_h(h)
                vis_neg = torch.cat([bernoulli(p_vis[:, :nf], generator), p_vis[:, nf:]], 1)  # label kept as probabilities
                h_neg = top._hidden_mean(top.hidden_input(vis_neg))
                h = top._hidden_sample(h_neg, generator)
            # sleep: a down pass from the fantasy with the generative weights
            sleep = [None] * L + [vis_neg[:, :nf]]
            for l in reversed(range(L)):
                p = dbn.down(l, sleep[l + 1])
                sleep[l] = p if l == 0 else bernoulli(p, generator)
            grads, params = [], []
            recon = torch.zeros((), dtype=x0.dtype, device=x0.device)
            sleep_error = torch.zeros_like(recon)
            for l in range(L):
                err = wake[l] - dbn.down(l, wake[l + 1])  # generative prediction error
                params += [dbn.gen_W[l], dbn.gen_b[l]]
                grads += [-(err.t() @ wake[l + 1]) / n, -err.mean(0)]
                rerr = sleep[l + 1] - dbn.up(l, sleep[l])  # recognition prediction error
                params += [dbn.rec_W[l], dbn.rec_c[l]]
                grads += [-(sleep[l].t() @ rerr) / n, -rerr.mean(0)]
                if l == 0:
                    recon = (err**2).sum(1).mean()
                if l == L - 1:
                    sleep_error = (rerr**2).sum(1).mean()
            params += [top.W, top.b, top.c]
            grads += [-(vis_pos.t() @ h_pos - vis_neg.t() @ h_neg) / n, -(vis_pos - vis_neg).mean(0),
                      -(h_pos - h_neg).mean(0)]
            if monitor:
                value = top.free_energy(vis_pos).mean() - top.free_energy(vis_neg).mean()
                metrics = {"recon": recon, "sleep_error": sleep_error}
            else:  # fit's unmeasured batches: the top RBM's free energies only report (see companion.train.Trainable)
                value, metrics = None, {}
        loss = top._with_penalties(given_gradients(value, params, grads), vis_pos)  # the top RBM's, as in pretraining
        return loss, metrics
