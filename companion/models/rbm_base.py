"""The restricted Boltzmann machine's core: what every RBM in ``companion`` shares.

:class:`RBM` owns the parameters (``W`` of shape (n_visible, n_hidden), visible
biases ``b``, hidden biases ``c``), the one negative chain (CD-k from the data,
PCD from persistent fantasy particles, both :meth:`RBM._gibbs_step` repeated),
block Gibbs sampling, the penalties (weight cost, sparsity target) and the
monitoring that needs no partition function. The models are short subclasses:
:class:`~companion.models.rbm.BernoulliRBM` and ``GaussianHiddenRBM``
(:mod:`companion.models.rbm`), ``GaussianBernoulliRBM`` and ``SpikeSlabRBM``
(real-valued visible units), the labelled top RBM of a DBN, the doubled RBMs
of a DBM's pretraining and the rating RBMs of collaborative filtering
(:mod:`companion.models.rbm_cf`, whose users' unrated items are absent visibles).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import converts_input, number, positive_int
from ..utils import ConstructorConfig


def bernoulli(p: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A 0/1 sample of the same dtype as ``p`` (one uniform per element, compared to ``p``)."""
    u = torch.rand(p.shape, generator=generator, device=p.device, dtype=p.dtype)
    # comparing into the uniforms' own buffer skips a bool tensor and its conversion (same values)
    return torch.lt(u, p, out=u)


class RBM(ConstructorConfig, nn.Module):
    """What every RBM of the course shares: parameters, the negative chain, the penalties, monitoring.

    A subclass supplies its energy, free energy (``_free_energy``), the visible conditional
    (``p_v_given_h``, ``_visible_sample``, or a whole ``_gibbs_step``), the chains' start
    (``_chain_start``), its data checks and its ``loss``; the hidden units are binary unless it
    overrides the three ``_hidden_*`` hooks.

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
    hidden_type = "bernoulli"  # binary hidden units unless a subclass overrides the _hidden_* hooks

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
        # the constructor's arguments as attributes: `config` reads them back (ConstructorConfig)
        self.n_visible, self.n_hidden, self.k, self.persistent, self.n_chains = (
            n_visible, n_hidden, k, bool(persistent), n_chains)
        self.weight_cost, self.init_std = weight_cost, init_std
        self.sparsity_target, self.sparsity_cost, self.sparsity_decay = sparsity_target, sparsity_cost, sparsity_decay
        self.W = nn.Parameter(torch.empty(n_visible, n_hidden))
        self.b = nn.Parameter(torch.empty(n_visible))
        self.c = nn.Parameter(torch.empty(n_hidden))
        self.reset_parameters()
        # training state, not parameters: kept out of the state_dict
        self.register_buffer("chains", torch.empty(0), persistent=False)
        self.register_buffer("hidden_mean", torch.empty(0), persistent=False)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """``W`` drawn from N(0, init_std²) with ``generator`` (torch's global one if None), biases zero.

        The constructor calls it; a caller that must leave the global generator alone (the
        scikit-learn drop-in) builds the model on the meta device and calls it with its own.
        """
        W = torch.randn(self.W.shape, generator=generator, device=generator.device if generator else None)
        self.W.copy_(W * self.init_std)
        self.b.zero_()
        self.c.zero_()

    def hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        """Total input to the hidden units, ``c + v W``: (N, n_visible) -> (N, n_hidden)."""
        return torch.addmm(self.c, v, self.W)

    def visible_input(self, h: torch.Tensor) -> torch.Tensor:
        """Total input to the visible units, ``b + W h``: (N, n_hidden) -> (N, n_visible)."""
        return torch.addmm(self.b, h, self.W.t())

    @converts_input
    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """The free energy :math:`F(v) = -\\log \\sum_h e^{-E(v,h)}` (an integral for continuous units), shape (N,).

        Each model's ``_free_energy`` writes it out from the hidden input; works in any floating
        dtype (``rbm.double()`` for exact-likelihood work).
        """
        return self._free_energy(v, self.hidden_input(v))

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

    def sample_h(self, v: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A binary sample of h given v, shape (N, n_hidden)."""
        return self._hidden_sample(self.p_h_given_v(v), generator)

    @torch.no_grad()
    def gibbs(self, v: torch.Tensor, k: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """Run ``k`` steps of block Gibbs sampling v -> h -> v from ``v``; returns the last v."""
        self.check_batch(v)
        for _ in range(k):
            v, _ = self._gibbs_step(v, generator)
        return v

    @torch.no_grad()
    @converts_input
    def transform(self, v: torch.Tensor) -> torch.Tensor:
        """Hidden features ``p(h = 1 | v)``, shape (N, n_hidden)."""
        self.check_batch(v)
        return self.p_h_given_v(v)

    def check_data(self, X: torch.Tensor) -> None:
        """Validate a whole data set once; used by :func:`companion.fit`."""
        self.check_batch(X, values=True)

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

    #: in eval mode (validation) the loss is the reconstruction error, not the CD/PCD surrogate:
    #: fit records it as val_recon, not as a val_loss that would read like the training loss
    eval_loss_name = "recon"

    def negative_chain(self, v0: torch.Tensor, h0: torch.Tensor | None = None,
                       generator: torch.Generator | None = None, mask: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The negative sample for one update, and the first sweep's visible mean (a reconstruction of ``v0``).

        CD-k runs ``k`` sweeps of :meth:`_gibbs_step` from the data (its first hidden sample ``h0``,
        when given, is the one the positive phase drew); PCD continues the persistent chains
        instead, and returns no reconstruction. ``mask`` (CD only; 1 where a visible exists, 0
        where it is absent, broadcastable to ``v0``) keeps absent visibles at zero in every
        sample: a rating RBM's user has visibles only for the items they rated.
        """
        persistent = self.persistent
        if persistent and mask is not None:
            raise ValueError("negative_chain: a mask of absent visibles needs CD (persistent chains belong to "
                             "no one case, so no case's mask applies to them)")
        if persistent:
            # the chain count is fixed at the first update (n_chains, else that batch's size), so a
            # short last batch does not restart the chains; they restart only on a new dtype/device
            n = self.n_chains
            c = self.chains
            if c.ndim != 2 or c.dtype != v0.dtype or c.device != v0.device or (n and len(c) != n):
                self.chains = self._chain_start(n or len(v0), v0, generator)
            v, h0 = self.chains, None
        else:
            v = v0
        first = None
        for step in range(self.k):
            v, mean = self._gibbs_step(v, generator) if h0 is None or step else self._gibbs_step(v, generator, h0)
            if mask is not None:
                v = v * mask
            if step == 0:
                first = mean
        if persistent:
            self.chains = v
            first = None  # the chains are not reconstructions of this batch
        return v, first

    @torch.no_grad()
    @converts_input
    def reconstruct(self, v: torch.Tensor) -> torch.Tensor:
        """Mean-field reconstruction, the mean of ``p(v | h = p(h|v))`` (no sampling): (N, n_visible)."""
        self.check_batch(v)
        return self.p_v_given_h(self.p_h_given_v(v))

    def _negative_hidden(self, p_h: torch.Tensor) -> None:
        """A hook: ``p(h | negative sample)`` as the update just computed it (scikit-learn's PCD goes on from it)."""

    def _recon_later(self, v0: torch.Tensor, p_h0: torch.Tensor | None = None):
        """The squared error of :meth:`reconstruct` per row of ``v0``, as a callable for the monitored batches.

        PCD's chains are no reconstructions of the batch, so its reconstruction error costs work of its
        own; :func:`companion.fit` calls this on the batches it monitors only. ``p_h0``, ``p(h | v0)`` if
        the caller has it already, saves a matrix product.
        """
        @torch.no_grad()
        def recon() -> torch.Tensor:
            mean = self.reconstruct(v0) if p_h0 is None else self.p_v_given_h(p_h0)
            return F.mse_loss(mean, v0, reduction="sum") / len(v0)
        return recon

    def _with_penalties(self, loss: torch.Tensor, v0: torch.Tensor, hidden_input: torch.Tensor | None = None
                        ) -> torch.Tensor:
        """``loss`` plus the configured penalties: ``weight_cost/2 ||W||^2`` and the sparsity target's.

        ``hidden_input`` is the batch's hidden input *with* gradient where the caller has it.
        """
        if self.weight_cost:
            loss = loss + 0.5 * self.weight_cost * (self.W**2).sum()
        if self.sparsity_target is not None and self.sparsity_cost:
            pre = self.hidden_input(v0) if hidden_input is None else hidden_input
            loss = loss + self._sparsity_penalty(self._hidden_mean(pre))
        return loss

    def _sparsity_penalty(self, p_h: torch.Tensor) -> torch.Tensor:
        decay, rho = self.sparsity_decay, self.sparsity_target
        q_batch = p_h.mean(0)
        if self.hidden_mean.shape != q_batch.shape:
            self.hidden_mean = q_batch.detach().clone()
        q = decay * self.hidden_mean + (1 - decay) * q_batch
        self.hidden_mean = q.detach()
        q = q.clamp(1e-6, 1 - 1e-6)
        # cross-entropy CE(rho, q); its derivative in unit j's input is proportional to q_j - rho
        ce = -(rho * torch.log(q) + (1 - rho) * torch.log1p(-q)).sum()
        return self.sparsity_cost * ce / (1 - decay)

    @torch.no_grad()
    def free_energy_gap(self, train: torch.Tensor, held_out: torch.Tensor) -> float:
        """``mean F(held_out) - mean F(train)``: grows when the model overfits (Hinton 2012, sec. 6)."""
        return (self.free_energy(held_out).mean() - self.free_energy(train).mean()).item()

    def extra_repr(self) -> str:
        mode = "PCD" if self.persistent else "CD"
        return f"n_visible={self.n_visible}, n_hidden={self.n_hidden}, {mode}-{self.k}"
