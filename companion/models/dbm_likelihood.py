"""The likelihood of a deep Boltzmann machine: exact for tiny models, AIS and the mean-field bound for real ones.

:class:`DBMLikelihood` holds the methods of :class:`companion.models.DBM` that
measure it: :meth:`~DBMLikelihood.log_partition_exact` and
:meth:`~DBMLikelihood.log_prob_exact` enumerate one of the two alternating sets
of layers (:func:`companion.likelihood.logsumexp_states`) and sum the other out;
:meth:`~DBMLikelihood.ais_log_partition` anneals h1 with v and h2 summed out
(:func:`companion.likelihood.anneal`); :meth:`~DBMLikelihood.variational_bound`
is the mean-field lower bound on log p(v). The energy helpers here
(:func:`layer_input`, the marginal with some layers summed out) are the DBM's own.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..checks import converts_input
from ..likelihood import (AISResult, ais_base, ais_chains, ais_generator, anneal, check_enumerable, logsumexp_states,
                          summarize)
from .rbm import bernoulli


def layer_input(W, b, states, l: int) -> torch.Tensor:
    """``b_l + x_{l-1} W_{l-1} + x_{l+1} W_l^T``; only the neighbours of layer l are read (they broadcast)."""
    x = b[l]
    if l > 0:
        x = x + states[l - 1] @ W[l - 1]
    if l < len(W):
        x = x + states[l + 1] @ W[l].T
    return x


def _log_marginal(W, b, states, summed) -> torch.Tensor:
    """:math:`\\log \\sum e^{-E}` over the layers in ``summed``, the others held at ``states``.

    No two summed layers may be neighbours: they are then independent given the
    rest, and each sums to :math:`\\prod_j (1 + e^{\\text{input}_j})`.
    """
    out = 0.0
    for l, x in enumerate(states):
        if l in summed:
            out = out + F.softplus(layer_input(W, b, states, l), threshold=40).sum(-1)
        else:
            out = out + x @ b[l]
            if l < len(W) and l + 1 not in summed:
                out = out + ((x @ W[l]) * states[l + 1]).sum(-1)
    return out


def _binary(v: torch.Tensor, what: str) -> None:
    if ((v != 0) & (v != 1)).any():
        raise ValueError(f"{what} needs binary data (0/1): binarize the pixels first; grey levels have no "
                         "probability under a model of binary units.")


class DBMLikelihood:
    """The likelihood methods of :class:`companion.models.DBM` (a mixin: they read its weights, biases and mean field)."""

    def _params64(self):
        return [w.detach().double() for w in self.weights], [b.detach().double() for b in self.biases]

    def _enumerable(self, layers, what: str) -> int:
        n = sum(self.layer_sizes[l] for l in layers)
        check_enumerable(n, f"{what} (layers {list(layers)})",
                         "Use ais_log_partition() for log Z and variational_bound() for log p(v)")
        return n

    def _split(self, states: torch.Tensor, layers) -> dict[int, torch.Tensor]:
        """A block of enumerated states cut into the given layers: {layer: (S, n_layer)}."""
        return dict(zip(layers, states.split([self.layer_sizes[l] for l in layers], 1)))

    @torch.no_grad()
    def log_partition_exact(self, chunk: int = 2**14) -> float:
        """:math:`\\log Z` in float64, enumerating the odd or the even layers (whichever has fewer units).

        The other set is summed out analytically, each layer giving
        :math:`\\prod_j (1 + e^{\\text{input}_j})`; beyond
        :data:`companion.likelihood.MAX_EXACT_UNITS` enumerated units the call is refused.
        """
        W, b = self._params64()
        odd, even = range(1, self.n_layers + 1, 2), range(0, self.n_layers + 1, 2)
        enum = min(odd, even, key=lambda ls: sum(self.layer_sizes[l] for l in ls))
        n = self._enumerable(enum, "exact log Z")
        summed = set(range(self.n_layers + 1)) - set(enum)

        def terms(block):
            parts = self._split(block, enum)
            return _log_marginal(W, b, [parts.get(l) for l in range(self.n_layers + 1)], summed)

        return logsumexp_states(n, terms, chunk, device=W[0].device).item()

    def log_partition(self, chunk: int = 2**14) -> float:
        """:meth:`log_partition_exact` under the name every model in the package uses."""
        return self.log_partition_exact(chunk)

    def log_prob(self, v: torch.Tensor, log_z: float | None = None, chunk: int = 2**12) -> torch.Tensor:
        """:meth:`log_prob_exact` under the name every model in the package uses."""
        return self.log_prob_exact(v, log_z, chunk)

    @torch.no_grad()
    def log_prob_exact(self, v: torch.Tensor, log_z: float | None = None, chunk: int = 2**12) -> torch.Tensor:
        """Exact :math:`\\log p(v)` in nats, float64, shape (N,), for tiny models.

        Enumerates the odd hidden layers and sums out the even ones (h2, h4, ...);
        ``log_z`` defaults to :meth:`log_partition_exact`.
        """
        self.check_batch(v, values=True)
        _binary(v, "log_prob_exact")
        W, b = self._params64()
        odd = range(1, self.n_layers + 1, 2)
        n = self._enumerable(odd, "exact log p(v)")
        log_z = self.log_partition_exact() if log_z is None else float(log_z)
        v = v.to(W[0])[:, None, :]

        def terms(block):
            parts = self._split(block, odd)
            states = [v] + [parts[l][None] if l % 2 else None for l in range(1, self.n_layers + 1)]
            return _log_marginal(W, b, states, set(range(2, self.n_layers + 1, 2)))

        return logsumexp_states(n, terms, chunk, device=v.device, dim=1) - log_z

    @torch.no_grad()
    def ais_log_partition(self, n_chains: int = 100, n_betas: int = 10000, base: torch.Tensor | None = None,
                          betas: torch.Tensor | None = None, seed: int | None = 0) -> AISResult:
        """Estimate :math:`\\log Z` of a two-hidden-layer DBM by annealed importance sampling.

        Given h1, v and h2 are independent, so they are summed out and AIS runs
        on h1 alone, through the marginals of
        :math:`p_\\beta(v,h^1,h^2) \\propto \\exp((1-\\beta)\\, b_A^\\top v - \\beta E(v,h^1,h^2))`:

        .. math:: \\log p^*_\\beta(h^1) = \\beta\\, b_1^\\top h^1
                  + \\sum_i \\operatorname{softplus}\\big((1-\\beta) b_{A,i} + \\beta (b_0 + W_0 h^1)_i\\big)
                  + \\sum_k \\operatorname{softplus}\\big(\\beta (b_2 + h^1 W_1)_k\\big).

        At β = 0, h1 is uniform and :math:`\\log Z_0 = \\sum_i \\operatorname{softplus}(b_{A,i})
        + (n_1 + n_2)\\log 2`. Each chain accumulates :math:`\\log p^*_{\\beta_k}(h^1) -
        \\log p^*_{\\beta_{k-1}}(h^1)` and moves by one Gibbs step of
        :math:`p_{\\beta_k}` (v and h2 given h1, then h1 given both), which leaves
        its h1-marginal invariant; :func:`companion.likelihood.anneal` runs the chains.

        Parameters
        ----------
        n_chains, n_betas, betas, seed
            As in :func:`companion.estimate.ais_log_partition` (temperatures from
            :func:`companion.likelihood.ais_betas`).
        base : tensor, optional
            Training data (N, n_visible) for base-rate visible biases :math:`b_A`,
            or the biases themselves (n_visible,); default zero (uniform base).

        Returns
        -------
        companion.likelihood.AISResult
        """
        if self.n_layers != 2:
            raise NotImplementedError(
                f"AIS is implemented for two hidden layers (the paper's DBM), where it anneals h1 with v and "
                f"h2 summed out; this DBM has {self.n_layers}. Use log_partition_exact() for a tiny model.")
        n_chains = ais_chains(n_chains)
        (W0, W1), (b0, b1, b2) = [w.detach() for w in self.weights], [b.detach() for b in self.biases]
        n0, n1, n2 = self.layer_sizes
        if base is not None and torch.as_tensor(base).ndim > 1:
            self.check_batch(torch.as_tensor(base).reshape(len(base), -1), values=True)
        b_a = ais_base(base, n0, b0)
        gen = ais_generator(W0.device, seed)

        def sp(x):
            return F.softplus(x, threshold=40)

        def step(h1, beta_prev, beta):
            a0, a2 = torch.addmm(b0, h1, W0.T) - b_a, torch.addmm(b2, h1, W1)  # v's input is b_A + beta * a0
            # term by term differences keep float32 accurate when the log p* themselves are large
            delta = ((beta - beta_prev) * (h1 @ b1) + (sp(b_a + beta * a0) - sp(b_a + beta_prev * a0)).sum(1)
                     + (sp(beta * a2) - sp(beta_prev * a2)).sum(1))
            if beta < 1:
                v = bernoulli(torch.sigmoid(b_a + beta * a0), gen)
                h2 = bernoulli(torch.sigmoid(beta * a2), gen)
                h1 = bernoulli(torch.sigmoid(beta * (b1 + v @ W0 + h2 @ W1.T)), gen)
            return delta, h1

        log_z_base = F.softplus(b_a.double(), threshold=40).sum().item() + (n1 + n2) * math.log(2)
        h1 = bernoulli(W0.new_full((n_chains, n1), 0.5), gen)
        return anneal(h1, step, n_chains=n_chains, n_betas=n_betas, betas=betas, log_z_base=log_z_base)

    @torch.no_grad()
    @converts_input
    def variational_bound(self, v: torch.Tensor, log_z, steps: int | None = None) -> torch.Tensor:
        """Mean-field lower bound on :math:`\\log p(v)` in nats, shape (N,).

        .. math:: \\log p(v) \\ge -\\mathbb E_Q[E(v, h)] + H(Q) - \\log Z = -F_Q(v) - \\log Z,

        with Q the factorial posterior of :meth:`mean_field` (``steps`` sweeps);
        tight when the true posterior is factorial (L = 1). ``v`` must be
        binary; ``log_z`` a float or an AISResult.
        """
        self.check_batch(v, values=True)
        _binary(v, "variational_bound")
        return -self._mean_field_free_energy([v, *self._mean_field(v, steps)]) - float(log_z)

    @torch.no_grad()
    @converts_input
    def log_likelihood_bound(self, X: torch.Tensor, log_z=None, steps: int | None = None, batch_size: int = 1024,
                             **ais_kwargs):
        """Mean :meth:`variational_bound` over ``X`` as a :class:`companion.estimate.LikelihoodEstimate`.

        ``log_z`` defaults to :meth:`ais_log_partition` with ``ais_kwargs``; its
        error shifts every example alike and is not in ``stderr``.
        """
        X = torch.as_tensor(X)
        log_z = self.ais_log_partition(**ais_kwargs) if log_z is None else log_z
        w = self.weights[0]
        values = [self.variational_bound(xb.to(w), log_z, steps).double() for xb in X.split(batch_size)]
        return summarize(torch.cat(values))
