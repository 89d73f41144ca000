"""Restricted Boltzmann machines with binary hidden units, trained by CD-k or PCD.

The Bernoulli RBM has the energy

.. math:: E(v, h) = -b^\\top v - c^\\top h - v^\\top W h,
          \\qquad v \\in \\{0,1\\}^{n_v},\\ h \\in \\{0,1\\}^{n_h},

with ``W`` of shape (n_visible, n_hidden), visible biases ``b`` and hidden
biases ``c``. Summing out the hidden units gives the free energy

.. math:: F(v) = -b^\\top v - \\sum_j \\operatorname{softplus}(c_j + v^\\top W_{:j}),
          \\qquad p(v) = e^{-F(v)} / Z .

Training goes through :func:`companion.fit`. :meth:`BernoulliRBM.loss` returns
the contrastive-divergence surrogate ``mean F(v_data) - mean F(v_model)`` with
the negative sample held fixed, so autograd gives exactly the CD/PCD update
(data statistics minus model statistics); a plain SGD step with momentum is
Hinton's (2012) recipe. :class:`GaussianBernoulliRBM` (:mod:`companion.models.rbm_real`)
and :class:`SpikeSlabRBM` (:mod:`companion.models.spike_slab`) reuse this class and
override the visible-side terms.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_unit_batch, converts_input, number, positive_int
from ..likelihood import rbm_log_partition
from ..utils import given_gradients


def bernoulli(p: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A 0/1 sample of the same dtype as ``p`` (one uniform per element, compared to ``p``)."""
    u = torch.rand(p.shape, generator=generator, device=p.device, dtype=p.dtype)
    # comparing into the uniforms' own buffer skips a bool tensor and its conversion (same values)
    return torch.lt(u, p, out=u)


class BernoulliRBM(nn.Module):
    """Binary-binary restricted Boltzmann machine.

    Parameters
    ----------
    n_visible, n_hidden : int
    k : int
        Gibbs steps per negative sample (CD-k, or steps per update with PCD).
    persistent : bool
        Persistent contrastive divergence (Tieleman 2008): the negative chains
        continue from where the last update left them instead of restarting
        at the data.
    n_chains : int, optional
        Number of persistent chains; by default the first batch's size.
    weight_cost : float
        L2 penalty ``weight_cost/2 * ||W||^2`` on the weights only (biases are
        not decayed, as in Hinton's practical guide; the optimizer's
        ``weight_decay`` would decay them too).
    sparsity_target, sparsity_cost : float
        Hinton's sparsity target: penalty ``sparsity_cost * sum_j CE(rho, q_j)``
        where ``q_j`` mixes a running average of the hidden unit's mean
        activation (decay ``sparsity_decay``) with the current batch's, so its
        gradient on unit j's input is proportional to ``q_j - rho``.
    init_std : float
        Weights start as N(0, init_std^2); biases at zero (call
        :meth:`init_visible_bias` to set b from the data's pixel means).
    """

    supports_amp = False  # sampling and free energies want full precision
    visible_type = "bernoulli"  # the estimators of companion.estimate rely on these two
    hidden_type = "bernoulli"

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        *,
        k: int = 1,
        persistent: bool = False,
        n_chains: int | None = None,
        weight_cost: float = 0.0,
        sparsity_target: float | None = None,
        sparsity_cost: float = 0.0,
        sparsity_decay: float = 0.95,
        init_std: float = 0.01,
    ):
        super().__init__()
        n_visible, n_hidden, k = (positive_int(v, name) for v, name in
                                  ((n_visible, "n_visible"), (n_hidden, "n_hidden"), (k, "k")))
        n_chains = None if n_chains is None else positive_int(n_chains, "n_chains")
        if sparsity_target is not None:
            sparsity_target = number(sparsity_target, "sparsity_target", 0, 1, low_open=True, high_open=True)
        weight_cost = number(weight_cost, "weight_cost", 0)
        sparsity_cost = number(sparsity_cost, "sparsity_cost", 0)
        sparsity_decay = number(sparsity_decay, "sparsity_decay", 0, 1, high_open=True)
        init_std = number(init_std, "init_std", 0)
        persistent = bool(persistent)
        self.config = dict(
            n_visible=n_visible, n_hidden=n_hidden, k=k, persistent=persistent, n_chains=n_chains,
            weight_cost=weight_cost, sparsity_target=sparsity_target, sparsity_cost=sparsity_cost,
            sparsity_decay=sparsity_decay, init_std=init_std,
        )
        self.n_visible, self.n_hidden = n_visible, n_hidden
        self.W = nn.Parameter(torch.randn(n_visible, n_hidden) * init_std)
        self.b = nn.Parameter(torch.zeros(n_visible))
        self.c = nn.Parameter(torch.zeros(n_hidden))
        # training state, not parameters: kept out of the state_dict
        self.register_buffer("chains", torch.empty(0), persistent=False)
        self.register_buffer("hidden_mean", torch.empty(0), persistent=False)
        # p(h | chains) at the last PCD update, under the parameters before it (scikit-learn's PCD goes on from it)
        self.register_buffer("chain_hidden", torch.empty(0), persistent=False)

    # ------------------------------------------------------------------ equations
    def hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        """Total input to the hidden units, ``c + v W``: (N, n_visible) -> (N, n_hidden)."""
        return torch.addmm(self.c, v, self.W)

    def visible_input(self, h: torch.Tensor) -> torch.Tensor:
        """Total input to the visible units, ``b + W h``: (N, n_hidden) -> (N, n_visible)."""
        return torch.addmm(self.b, h, self.W.t())

    def energy(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """:math:`E(v,h) = -b^\\top v - c^\\top h - v^\\top W h`, one value per row: (N,)."""
        return -(v @ self.b) - (h @ self.c) - ((v @ self.W) * h).sum(1)

    @converts_input
    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """:math:`F(v) = -b^\\top v - \\sum_j \\operatorname{softplus}(c_j + (v^\\top W)_j)`, shape (N,).

        Equals :math:`-\\log \\sum_h e^{-E(v,h)}`; works in any floating dtype
        (``rbm.double()`` for exact-likelihood work).
        """
        return self._free_energy(v, self.hidden_input(v))

    def _free_energy(self, v: torch.Tensor, hidden_input: torch.Tensor) -> torch.Tensor:
        # the hidden input is shared with the Gibbs step in loss(), saving a matmul
        return -(v @ self.b) - self._hidden_log_partition(hidden_input).sum(1)

    # The three hidden-unit hooks; GaussianHiddenRBM overrides them for linear units.
    def _hidden_log_partition(self, hidden_input: torch.Tensor) -> torch.Tensor:
        """:math:`\\log \\sum_{h_j} e^{h_j x_j}` for each hidden unit with input x: softplus for binary units."""
        return F.softplus(hidden_input, threshold=40)

    def _hidden_mean(self, hidden_input: torch.Tensor) -> torch.Tensor:
        """:math:`E[h_j \\mid v]` from the hidden input: the logistic function for binary units."""
        return torch.sigmoid(hidden_input)

    def _hidden_sample(self, mean: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return bernoulli(mean, generator)

    def p_h_given_v(self, v: torch.Tensor) -> torch.Tensor:
        """:math:`p(h_j = 1 \\mid v) = \\sigma(c_j + (v^\\top W)_j)`, shape (N, n_hidden)."""
        return self._hidden_mean(self.hidden_input(v))

    def p_v_given_h(self, h: torch.Tensor) -> torch.Tensor:
        """:math:`p(v_i = 1 \\mid h) = \\sigma(b_i + (W h)_i)`, shape (N, n_visible)."""
        return torch.sigmoid(self.visible_input(h))

    def sample_h(self, v: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A binary sample of h given v, shape (N, n_hidden)."""
        return self._hidden_sample(self.p_h_given_v(v), generator)

    def sample_v(self, h: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A sample of v given h, shape (N, n_visible)."""
        return self._visible_sample(self.p_v_given_h(h), generator)

    def _visible_sample(self, p: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        # a hook: the labelled top RBM of a DBN draws its label group as one softmax
        return bernoulli(p, generator)

    @torch.no_grad()
    def gibbs(self, v: torch.Tensor, k: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """Run ``k`` steps of block Gibbs sampling v -> h -> v from ``v``; returns the last v."""
        self.check_batch(v)
        for _ in range(k):
            v, _ = self._gibbs_step(v, generator)
        return v

    @torch.no_grad()
    @converts_input
    def reconstruct(self, v: torch.Tensor) -> torch.Tensor:
        """Mean-field reconstruction ``p(v | h = p(h|v))`` (no sampling), shape (N, n_visible)."""
        self.check_batch(v)
        return self.p_v_given_h(self.p_h_given_v(v))

    @torch.no_grad()
    @converts_input
    def transform(self, v: torch.Tensor) -> torch.Tensor:
        """Hidden features ``p(h = 1 | v)``, shape (N, n_hidden)."""
        self.check_batch(v)
        return self.p_h_given_v(v)

    # ------------------------------------------------------------------ checks
    def check_batch(self, v: torch.Tensor, values: bool | None = None) -> None:
        """Shape (N, n_visible), finite, and in [0, 1] (probabilities or binary values)."""
        check_unit_batch(v, self.n_visible, type(self).__name__, values,
                         hint=", or use GaussianBernoulliRBM for real-valued data")

    def check_data(self, X: torch.Tensor) -> None:
        """Validate a whole data set once; used by :func:`companion.fit`."""
        self.check_batch(X, values=True)

    @torch.no_grad()
    def init_visible_bias(self, X: torch.Tensor, eps: float = 1e-3) -> "BernoulliRBM":
        """Set ``b_i = log(p_i / (1 - p_i))`` from the pixel means (Hinton 2012, section 8)."""
        self.check_batch(X, values=True)
        p = X.to(self.b).mean(0).clamp(eps, 1 - eps)
        self.b.copy_(torch.log(p) - torch.log1p(-p))
        return self

    # ------------------------------------------------------------------ sampling
    def _gibbs_step(self, v: torch.Tensor, generator: torch.Generator | None = None,
                    h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One sweep v -> h -> v: the new (sampled) v and the mean it was drawn around, both (N, n_visible).

        ``h``, when given, is the hidden sample already drawn from ``v`` (CD's first sweep shares it
        with the positive phase). Every RBM's chain is a repetition of this one step: the
        real-valued RBMs override it with their own conditionals.
        """
        if h is None:
            h = self.sample_h(v, generator)
        p = self.p_v_given_h(h)
        return self._visible_sample(p, generator), p

    def _chain_start(self, n: int, like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """PCD's first fantasy particles: uniform random bits, (n, n_visible), in ``like``'s dtype and device."""
        return bernoulli(like.new_full((n, self.n_visible), 0.5), generator)

    # ------------------------------------------------------------------ training
    def negative_chain(self, v0: torch.Tensor, h0: torch.Tensor | None = None,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The negative sample for one update, and the first sweep's visible mean (a reconstruction of ``v0``).

        CD-k runs ``k`` sweeps of :meth:`_gibbs_step` from the data (its first hidden sample ``h0``,
        when given, is the one the positive phase drew); PCD continues the persistent chains
        instead, and returns no reconstruction.
        """
        persistent = self.config["persistent"]
        if persistent:
            # the chain count is fixed at the first update (n_chains, else that batch's size), so a
            # short last batch does not restart the chains; they restart only on a new dtype/device
            n = self.config["n_chains"]
            c = self.chains
            if c.ndim != 2 or c.dtype != v0.dtype or c.device != v0.device or (n and len(c) != n):
                self.chains = self._chain_start(n or len(v0), v0, generator)
            v, h0 = self.chains, None
        else:
            v = v0
        first = None
        for step in range(self.config["k"]):
            v, mean = self._gibbs_step(v, generator) if h0 is None or step else self._gibbs_step(v, generator, h0)
            if step == 0:
                first = mean
        if persistent:
            self.chains = v
            first = None  # the chains are not reconstructions of this batch
        return v, first

    #: in eval mode (validation) the loss is the reconstruction error, not the CD/PCD surrogate:
    #: fit records it as val_recon, not as a val_loss that would read like the training loss
    eval_loss_name = "recon"

    @converts_input
    def loss(self, batch, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The CD/PCD surrogate whose gradient is the likelihood-gradient estimate.

        The chain draws its random numbers from ``generator`` (the one :func:`companion.fit`
        seeds with its ``seed``), or from torch's global generator when it is None.

        .. math:: \\mathcal L = \\frac1N \\sum_n F(v_n) - \\frac1M \\sum_m F(\\tilde v_m),
                  \\qquad -\\frac{\\partial \\mathcal L}{\\partial W} =
                  \\langle v h^\\top \\rangle_{\\text{data}} - \\langle v h^\\top \\rangle_{\\text{model}},

        with the negative samples :math:`\\tilde v` treated as constants. In
        eval mode (``evaluate``, validation) no chain is advanced and the loss
        is the mean-field reconstruction error instead.

        Metrics: ``recon`` (squared error per example, summed over pixels,
        between the batch and its first reconstruction's probabilities: with
        CD in training from a *sampled* hidden state, which the update needs
        anyway; in eval mode, and with PCD, whose chains are no reconstructions
        of the batch, from the hidden probabilities, which is deterministic and
        somewhat lower, so compare ``val_recon`` with itself over epochs; with
        PCD it costs half a Gibbs step more, so it is a callable that ``fit``
        evaluates on the batches it monitors only) and ``free_energy`` (mean F
        of the batch; compare train and held-out to see overfitting).
        """
        v0 = batch[0] if isinstance(batch, tuple) else batch
        self.check_batch(v0, values=False)  # fit checked the values of the whole set once
        if not self.training:
            with torch.no_grad():
                pre0 = self.hidden_input(v0)
                recon = ((v0 - self.p_v_given_h(self._hidden_mean(pre0))) ** 2).sum(1).mean()
                return recon, {"recon": recon, "free_energy": self._free_energy(v0, pre0).mean()}
        with torch.no_grad():
            pre0 = self.hidden_input(v0)
            p_h0 = self._hidden_mean(pre0)
            persistent = self.config["persistent"]  # PCD's chains do not start at the data: no h0 to draw
            v_neg, first = self.negative_chain(v0, None if persistent else self._hidden_sample(p_h0, generator),
                                               generator)
            pre_neg = self.hidden_input(v_neg)
            p_h_neg = self._hidden_mean(pre_neg)
            if persistent:
                self.chain_hidden = p_h_neg
            f0 = self._free_energy(v0, pre0).mean()
            value = f0 - self._free_energy(v_neg, pre_neg).mean()
            if first is None:
                recon = self._recon_later(p_h0, v0)
            else:
                recon = F.mse_loss(first, v0, reduction="sum") / len(v0)
            # dF(v)/dW = -v p(h|v)^T, so the surrogate's gradient is -(data - model) statistics
            n, m = len(v0), len(v_neg)
            grad_W = torch.addmm(v_neg.t() @ p_h_neg, v0.t(), p_h0, beta=1 / m, alpha=-1 / n)
            grad_b = v_neg.mean(0) - v0.mean(0)
            grad_c = p_h_neg.mean(0) - p_h0.mean(0)
        # mean F(v0) - mean F(v_neg) as a value, with exactly the statistics above as its gradient:
        # no backward pass through the chain
        loss = given_gradients(value, (self.W, self.b, self.c), (grad_W, grad_b, grad_c))
        return self._with_penalties(loss, v0), {"recon": recon, "free_energy": f0}

    def _recon_later(self, p_h0: torch.Tensor, v0: torch.Tensor):
        """The reconstruction error of ``v0`` through ``p(h|v0)``, as a callable for the monitored batches."""
        @torch.no_grad()
        def recon() -> torch.Tensor:
            return F.mse_loss(self.p_v_given_h(p_h0), v0, reduction="sum") / len(v0)
        return recon

    def _with_penalties(self, loss: torch.Tensor, v0: torch.Tensor, hidden_input: torch.Tensor | None = None
                        ) -> torch.Tensor:
        """``loss`` plus the configured penalties: ``weight_cost/2 ||W||^2`` and the sparsity target's.

        ``hidden_input`` is the batch's hidden input *with* gradient where the caller has it.
        """
        if self.config["weight_cost"]:
            loss = loss + 0.5 * self.config["weight_cost"] * (self.W**2).sum()
        if self.config["sparsity_target"] is not None and self.config["sparsity_cost"]:
            pre = self.hidden_input(v0) if hidden_input is None else hidden_input
            loss = loss + self._sparsity_penalty(self._hidden_mean(pre))
        return loss

    def _sparsity_penalty(self, p_h: torch.Tensor) -> torch.Tensor:
        decay, rho = self.config["sparsity_decay"], self.config["sparsity_target"]
        q_batch = p_h.mean(0)
        if self.hidden_mean.shape != q_batch.shape:
            self.hidden_mean = q_batch.detach().clone()
        q = decay * self.hidden_mean + (1 - decay) * q_batch
        self.hidden_mean = q.detach()
        q = q.clamp(1e-6, 1 - 1e-6)
        # cross-entropy CE(rho, q); its derivative in unit j's input is proportional to q_j - rho
        ce = -(rho * torch.log(q) + (1 - rho) * torch.log1p(-q)).sum()
        return self.config["sparsity_cost"] * ce / (1 - decay)

    # ------------------------------------------------------------------ monitoring
    @torch.no_grad()
    @converts_input
    def pseudo_log_likelihood(self, v: torch.Tensor, chunk: int = 64) -> torch.Tensor:
        """Pseudo-log-likelihood :math:`\\sum_i \\log p(v_i \\mid v_{-i})` per row, in nats: (N,).

        Every visible unit is flipped in turn, so the value is exact and
        deterministic (cost: n_visible free energies per row). Convention:
        summed over all units. scikit-learn's ``score_samples`` flips one
        random unit per row and multiplies by n_visible, an unbiased but random
        estimate of the same sum. Needs binary ``v``.
        """
        self.check_batch(v)
        out = []
        for start in range(0, len(v), chunk):
            x = v[start : start + chunk]
            pre = self.hidden_input(x)  # (n, h)
            f = self._free_energy(x, pre)  # (n,)
            sign = 1 - 2 * x  # +1 where a 0 becomes 1
            # F(x with unit i flipped) for every i at once: (n, v)
            pre_flip = pre[:, None, :] + sign[:, :, None] * self.W[None]
            f_flip = -(x @ self.b)[:, None] - sign * self.b - self._hidden_log_partition(pre_flip).sum(2)
            out.append(F.logsigmoid(f_flip - f[:, None]).sum(1))
        return torch.cat(out)

    def log_partition(self, chunk: int = 2**14) -> float:
        """Exact :math:`\\log Z` in float64, enumerating the smaller layer (small models only;
        :func:`companion.likelihood.rbm_log_partition`). For large models use
        :func:`companion.estimate.ais_log_partition`. Binary units only."""
        if not self.visible_type == self.hidden_type == "bernoulli":
            raise TypeError(f"{type(self).__name__} has {self.visible_type} visible and {self.hidden_type} hidden "
                            "units; log_partition enumerates binary units only. Use ais_log_partition on a "
                            "BernoulliRBM, or a model with its own exact log_partition (GaussianBernoulliRBM).")
        return rbm_log_partition(self.W, self.b, self.c, chunk)

    @torch.no_grad()
    def log_prob(self, v: torch.Tensor, log_z: float | None = None) -> torch.Tensor:
        """:math:`\\log p(v) = -F(v) - \\log Z` in nats, float64, shape (N,); ``log_z`` defaults to
        :meth:`log_partition` (pass an AIS estimate for a large model)."""
        log_z = self.log_partition() if log_z is None else float(log_z)
        model = self if self.W.dtype == torch.float64 else copy.deepcopy(self).double()
        return -model.free_energy(torch.as_tensor(v).double()) - log_z

    @torch.no_grad()
    def free_energy_gap(self, train: torch.Tensor, held_out: torch.Tensor) -> float:
        """``mean F(held_out) - mean F(train)``: grows when the model overfits (Hinton 2012, sec. 6)."""
        return (self.free_energy(held_out).mean() - self.free_energy(train).mean()).item()

    @torch.no_grad()
    def sample(self, n: int, steps: int = 1000, start: torch.Tensor | None = None,
               generator: torch.Generator | None = None, mean_field: bool = True) -> torch.Tensor:
        """Samples from long Gibbs chains, shape (n, n_visible).

        Chains start at ``start`` (e.g. data) or at random bits; the returned
        images are the last step's probabilities ``p(v|h)`` when ``mean_field``
        (smoother to look at), else binary samples.
        """
        if start is None:
            p = torch.full((n, self.n_visible), 0.5, device=self.W.device, dtype=self.W.dtype)
            v = bernoulli(p, generator)
        else:
            v = start.to(self.W)
            self.check_batch(v)
        for _ in range(steps - 1):
            v = self.sample_v(self.sample_h(v, generator), generator)
        h = self.sample_h(v, generator)
        return self.p_v_given_h(h) if mean_field else self.sample_v(h, generator)

    def extra_repr(self) -> str:
        mode = "PCD" if self.config["persistent"] else "CD"
        return f"n_visible={self.n_visible}, n_hidden={self.n_hidden}, {mode}-{self.config['k']}"


class GaussianHiddenRBM(BernoulliRBM):
    """Binary visible units, linear hidden units with unit-variance Gaussian noise.

    The top RBM of Hinton & Salakhutdinov's (2006) deep autoencoder, whose 30
    code units are linear. The energy adds a quadratic term that keeps the
    hidden units finite,

    .. math:: E(v, h) = -b^\\top v - c^\\top h - v^\\top W h + \\tfrac12 \\lVert h \\rVert^2,
              \\qquad h \\in \\mathbb R^{n_h},

    so :math:`p(h \\mid v) = \\mathcal N(c + W^\\top v, I)`, :math:`p(v_i = 1 \\mid h)
    = \\sigma(b_i + (W h)_i)` and

    .. math:: F(v) = -b^\\top v - \\sum_j \\Big(\\tfrac12 (c_j + (v^\\top W)_j)^2
              + \\tfrac12 \\log 2\\pi\\Big).

    :meth:`p_h_given_v` returns the conditional *mean* of h. Everything else
    (CD-k, PCD, :func:`companion.fit`) is inherited; the linear units make the
    updates larger, which is why the paper used a learning rate 100 times
    smaller (0.001) for this layer. The exact and AIS estimators of
    :mod:`companion.estimate` are for binary hidden units and refuse it.
    """

    hidden_type = "gaussian"

    def __init__(self, n_visible: int, n_hidden: int, **kwargs):
        if kwargs.get("sparsity_target") is not None:
            raise ValueError("GaussianHiddenRBM: a sparsity target is for binary hidden units; leave it None.")
        super().__init__(n_visible, n_hidden, **kwargs)

    def _hidden_log_partition(self, hidden_input: torch.Tensor) -> torch.Tensor:
        # log of the Gaussian integral over h_j of exp(h_j x_j - h_j^2 / 2)
        return 0.5 * hidden_input**2 + 0.5 * math.log(2 * math.pi)

    def _hidden_mean(self, hidden_input: torch.Tensor) -> torch.Tensor:
        return hidden_input

    def _hidden_sample(self, mean: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return mean + torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)

    def energy(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """:math:`E(v,h)` of the class docstring, one value per row: (N,)."""
        return super().energy(v, h) + 0.5 * (h**2).sum(1)
