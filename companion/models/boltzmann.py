"""The (general) Boltzmann machine: a stochastic Hopfield network with hidden units.

:class:`BoltzmannMachine` holds ``n_visible + n_hidden`` binary units
:math:`s_i \\in \\{0, 1\\}` (visible first, then hidden) with symmetric
weights, a zero diagonal and a bias per unit. Its energy is Hopfield's, and the
Boltzmann distribution turns the energy into probabilities:

.. math::

    E(\\mathbf s) = -\\tfrac12\\,\\mathbf s^\\top W \\mathbf s - \\mathbf b^\\top \\mathbf s,
    \\qquad p(\\mathbf s) = \\frac{e^{-E(\\mathbf s)}}{Z}, \\qquad Z = \\sum_{\\mathbf s} e^{-E(\\mathbf s)}.

Everything that needs :math:`Z` is computed **exactly by enumerating all**
:math:`2^n` **states**, which is only possible for tiny models:
:data:`MAX_EXACT_UNITS` units at most, and a clear error beyond. That limit is
the point: it is why chapter 08 restricts the connections. Larger models use
Gibbs sampling (:meth:`BoltzmannMachine.gibbs`) instead.

An optional connectivity ``mask`` removes connections; :meth:`BoltzmannMachine.restricted`
builds the bipartite mask of a restricted Boltzmann machine.
"""

from __future__ import annotations

import torch
from torch import nn

from ..checks import number, positive_int, require_finite
from ..likelihood import MAX_EXACT_UNITS, binary_states
from ..likelihood import check_enumerable as _check_enumerable
from ..utils import ConstructorConfig

STATISTICS = ("exact", "gibbs")


def check_enumerable(n: int) -> None:
    """Raise a clear error if summing over all 2^n states of ``n`` units is beyond :data:`MAX_EXACT_UNITS`."""
    _check_enumerable(n, f"exact enumeration over {n} units",
                      "Use Gibbs sampling instead (BoltzmannMachine.gibbs, or statistics='gibbs' for training)")


def all_states(n: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Every binary vector of length ``n``, one per row: a (2^n, n) tensor, row k = k in binary.

    Raises
    ------
    ValueError
        Beyond :data:`MAX_EXACT_UNITS` units (see :func:`check_enumerable`).
    """
    check_enumerable(n)
    return binary_states(n, device=device, dtype=dtype)


def check_binary(x, n: int, name: str, values: bool | None = None) -> torch.Tensor:
    """Raise a clear error unless ``x`` is a batch (B, n) of {0, 1} values.

    The values are checked when ``values`` is True; by default only for CPU
    tensors, so that a GPU is not synchronized on every batch (``fit`` checks
    the whole data set once through ``check_data``).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} expects a torch.Tensor, got {type(x).__name__}.")
    if values is None:
        values = x.device.type == "cpu"
    if x.ndim != 2 or x.shape[1] != n:
        raise ValueError(
            f"{name} expects a batch of shape (B, {n}), got {tuple(x.shape)}; "
            "add a batch dimension with x[None] for a single vector."
        )
    if values:
        require_finite(x, f"{name}: the batch contains")
        if not ((x == 0) | (x == 1)).all():
            raise ValueError(
                f"{name}: a Boltzmann machine's units are binary, found values outside {{0, 1}} "
                f"(e.g. {torch.unique(x).tolist()[:5]}); binarize the data first, e.g. (x > 0.5).float()."
            )
    return x


class BoltzmannMachine(ConstructorConfig, nn.Module):
    """A fully connected Boltzmann machine (Ackley, Hinton & Sejnowski 1985).

    Parameters
    ----------
    n_visible : int
    n_hidden : int
    mask : (n, n) bool tensor, optional
        Which connections exist (symmetric, False on the diagonal); default: all
        pairs. Missing connections are held at zero weight.
    statistics : {"exact", "gibbs"}
        How :meth:`loss` gets the two phases' statistics. "exact" enumerates
        states (tiny models only) and the loss is the exact negative
        log-likelihood. "gibbs" estimates the positive phase by Gibbs sampling
        the hidden units with the visible units clamped to the data, and the
        negative phase with ``n_chains`` persistent free-running chains.
    gibbs_sweeps : int
        Sweeps per phase and per training step with ``statistics="gibbs"``.
    n_chains : int
        Persistent chains for the negative phase with ``statistics="gibbs"``.
    init_std : float
        Standard deviation of the initial weights (biases start at zero).

    Attributes
    ----------
    upper : (n, n) parameter
        Holds :math:`w_{ij}` for :math:`i < j` in its strict upper triangle; the
        rest is ignored. Use :attr:`weight` for the symmetric matrix.
    bias : (n,) parameter
        :math:`\\mathbf b`.

    Notes
    -----
    Units are ordered visible first: ``s = (v, h)``. States are {0, 1}, as in
    Ackley et al. (the Hopfield chapter's ±1 spins map to them by s = (x + 1) / 2,
    which changes W and b but not the family of distributions).
    """

    _config_attributes = {"mask": None}  # the mask is a buffer: the state_dict carries it, not the config

    def __init__(
        self,
        n_visible: int,
        n_hidden: int = 0,
        *,
        mask: torch.Tensor | None = None,
        statistics: str = "exact",
        gibbs_sweeps: int = 1,
        n_chains: int = 100,
        init_std: float = 0.1,
    ):
        super().__init__()
        n_visible, n_hidden = positive_int(n_visible, "n_visible"), positive_int(n_hidden, "n_hidden", 0)
        if statistics not in STATISTICS:
            raise ValueError(f"statistics={statistics!r}: use 'exact' or 'gibbs'.")
        gibbs_sweeps, n_chains = positive_int(gibbs_sweeps, "gibbs_sweeps"), positive_int(n_chains, "n_chains")
        init_std = number(init_std, "init_std", 0)
        n = n_visible + n_hidden
        if statistics == "exact":
            _check_enumerable(n, "statistics='exact'", "Use statistics='gibbs' for a model this large")
        if mask is None:
            mask = ~torch.eye(n, dtype=torch.bool)
        mask = torch.as_tensor(mask, dtype=torch.bool)
        if mask.shape != (n, n) or not torch.equal(mask, mask.T) or mask.diagonal().any():
            raise ValueError(f"mask must be a symmetric ({n}, {n}) boolean matrix with a False diagonal.")
        self.n_visible, self.n_hidden, self.n_units = n_visible, n_hidden, n
        # the constructor's arguments as attributes: `config` reads them back (ConstructorConfig)
        self.statistics, self.gibbs_sweeps, self.n_chains, self.init_std = statistics, gibbs_sweeps, n_chains, init_std
        self.register_buffer("mask", mask)
        self.upper = nn.Parameter(torch.randn(n, n) * init_std)
        self.bias = nn.Parameter(torch.zeros(n))
        self.register_buffer("chains", torch.empty(0, n), persistent=False)

    @classmethod
    def restricted(cls, n_visible: int, n_hidden: int, **kwargs) -> "BoltzmannMachine":
        """A Boltzmann machine with only visible-hidden connections: an RBM (chapter 08)."""
        n = n_visible + n_hidden
        mask = torch.zeros(n, n, dtype=torch.bool)
        mask[:n_visible, n_visible:] = True
        mask[n_visible:, :n_visible] = True
        return cls(n_visible, n_hidden, mask=mask, **kwargs)

    # -- parameters -----------------------------------------------------------------
    @property
    def weight(self) -> torch.Tensor:
        """The symmetric (n, n) weight matrix, zero on the diagonal and where ``mask`` is False."""
        u = torch.triu(self.upper, diagonal=1) * self.mask
        return u + u.T

    @property
    def n_connections(self) -> int:
        """Number of connections (free weights): n(n - 1)/2 when fully connected."""
        return int(self.mask.sum()) // 2

    # -- the energy -----------------------------------------------------------------
    def energy(self, s: torch.Tensor) -> torch.Tensor:
        """The energy of full states (visible and hidden).

        .. math::

            E(\\mathbf s) = -\\tfrac12\\,\\mathbf s^\\top W \\mathbf s - \\mathbf b^\\top \\mathbf s
            = -\\sum_{i<j} w_{ij} s_i s_j - \\sum_i b_i s_i

        Parameters
        ----------
        s : (B, n) tensor of {0, 1}

        Returns
        -------
        (B,) tensor
        """
        s = check_binary(s, self.n_units, "BoltzmannMachine.energy").to(self.bias)
        return -0.5 * ((s @ self.weight) * s).sum(1) - s @ self.bias

    def _split(self):
        W, b, nv = self.weight, self.bias, self.n_visible
        return W[:nv, :nv], W[:nv, nv:], W[nv:, nv:], b[:nv], b[nv:]

    def _hidden_scores(self, v: torch.Tensor):
        """-E(v, h) = a(v) + c(h) + v^T W_vh h for every hidden state: returns a (B,) and the (B, 2^H) rest."""
        W_vv, W_vh, W_hh, b_v, b_h = self._split()
        a = 0.5 * ((v @ W_vv) * v).sum(1) + v @ b_v
        H = all_states(self.n_hidden, device=v.device, dtype=v.dtype)
        c = 0.5 * ((H @ W_hh) * H).sum(1) + H @ b_h
        return a, c[None, :] + (v @ W_vh) @ H.T, H

    # -- exact quantities (tiny models) ---------------------------------------------
    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """Exact free energy of visible vectors, summing out the hidden units (2^H terms).

        .. math::

            F(\\mathbf v) = -\\log \\sum_{\\mathbf h} e^{-E(\\mathbf v, \\mathbf h)},
            \\qquad p(\\mathbf v) = e^{-F(\\mathbf v)} / Z

        (B, n_visible) -> (B,)
        """
        v = check_binary(v, self.n_visible, "BoltzmannMachine.free_energy")
        a, scores, _ = self._hidden_scores(v.to(self.bias))
        return -a - torch.logsumexp(scores, dim=1)

    def log_partition(self) -> torch.Tensor:
        """Exact :math:`\\log Z = \\log \\sum_{\\mathbf s} e^{-E(\\mathbf s)}` by enumerating all 2^n states (a scalar)."""
        check_enumerable(self.n_units)  # 2^n_visible visible states times 2^n_hidden hidden ones
        V = all_states(self.n_visible, device=self.bias.device, dtype=self.bias.dtype)
        return torch.logsumexp(-self.free_energy(V), dim=0)

    def log_prob(self, v: torch.Tensor) -> torch.Tensor:
        """Exact :math:`\\log p(\\mathbf v) = -F(\\mathbf v) - \\log Z`: (B, n_visible) -> (B,)."""
        return -self.free_energy(v) - self.log_partition()

    def marginal_visible(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact :math:`p(\\mathbf v)` of every visible state.

        Returns
        -------
        states : (2^n_visible, n_visible) tensor, in binary counting order
        probs : (2^n_visible,) tensor, summing to 1
        """
        check_enumerable(self.n_units)
        V = all_states(self.n_visible, device=self.bias.device, dtype=self.bias.dtype)
        with torch.no_grad():
            logp = -self.free_energy(V)
            return V, torch.softmax(logp, dim=0)

    @torch.no_grad()
    def exact_statistics(self, v: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact pair and unit statistics, free (the model's) or clamped on data.

        Parameters
        ----------
        v : (B, n_visible) tensor, optional
            None gives the model's expectations :math:`\\langle s_i s_j\\rangle_{\\text{model}}`
            (enumerating all 2^n states); data give the clamped expectations
            :math:`\\langle s_i s_j\\rangle_{\\text{data}}`: visible units fixed to each row,
            hidden units distributed as :math:`p(\\mathbf h\\mid\\mathbf v)`, averaged over rows.

        Returns
        -------
        pairs : (n, n) tensor, :math:`\\langle s_i s_j\\rangle` (its diagonal is :math:`\\langle s_i\\rangle`)
        means : (n,) tensor, :math:`\\langle s_i\\rangle`
        """
        if v is None:
            S = all_states(self.n_units, device=self.bias.device, dtype=self.bias.dtype)
            p = torch.softmax(-self.energy(S), dim=0)
            return S.T @ (p[:, None] * S), p @ S
        v = check_binary(v, self.n_visible, "BoltzmannMachine.exact_statistics").to(self.bias)
        _, scores, H = self._hidden_scores(v)
        q = torch.softmax(scores, dim=1)  # p(h | v), (B, 2^H)
        eh = q @ H  # E[h | v], (B, n_hidden)
        B, nv = len(v), self.n_visible
        pairs = torch.empty(self.n_units, self.n_units, dtype=v.dtype, device=v.device)
        pairs[:nv, :nv] = v.T @ v / B
        pairs[:nv, nv:] = v.T @ eh / B
        pairs[nv:, :nv] = pairs[:nv, nv:].T
        pairs[nv:, nv:] = H.T @ (q.sum(0)[:, None] * H) / B
        return pairs, torch.cat([v.mean(0), eh.mean(0)])

    # -- sampling -------------------------------------------------------------------
    @torch.no_grad()
    def gibbs(
        self,
        s: torch.Tensor,
        sweeps: int = 1,
        clamp_visible: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Sequential Gibbs sampling, vectorized over chains (the rows of ``s``).

        Each sweep visits the units in order and resamples each from its
        conditional given all the others,

        .. math::

            p(s_i = 1 \\mid \\mathbf s_{-i}) = \\sigma\\Big(b_i + \\sum_{j} w_{ij} s_j\\Big),

        so one unit changes at a time (two connected units must not be
        resampled together: their conditionals depend on each other).

        Parameters
        ----------
        s : (B, n) tensor of {0, 1}
            Start states, one chain per row; not modified.
        sweeps : int
        clamp_visible : bool
            Keep the visible units fixed and resample only the hidden ones
            (the positive phase).
        generator : torch.Generator, optional (on the model's device)

        Returns
        -------
        (B, n) tensor, the states after ``sweeps`` sweeps
        """
        x = check_binary(s, self.n_units, "BoltzmannMachine.gibbs")
        x = x.to(self.bias).clone()
        W, b = self.weight, self.bias
        first = self.n_visible if clamp_visible else 0
        for _ in range(sweeps):
            for i in range(first, self.n_units):
                p = torch.sigmoid(x @ W[i] + b[i])  # W_ii = 0: unit i does not see itself
                x[:, i] = (torch.rand(p.shape, generator=generator, device=p.device, dtype=p.dtype) < p).to(x)
        return x

    @torch.no_grad()
    def sample(self, n: int, steps: int = 100, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` independent chains run ``steps`` Gibbs sweeps from uniform random states: (n, n_units).

        The same signature as the RBMs' and the DBM's ``sample(n, steps)``.
        """
        start = torch.randint(0, 2, (n, self.n_units), generator=generator, device=self.bias.device).to(self.bias)
        return self.gibbs(start, steps, generator=generator)

    # -- training -------------------------------------------------------------------
    def check_data(self, X: torch.Tensor) -> None:
        """Validate a whole data set once (shape and {0, 1} values); used by ``fit``."""
        check_binary(X, self.n_visible, f"{type(self).__name__} data")

    def loss(self, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """A loss whose gradient is the Boltzmann machine learning rule.

        The gradient of the average negative log-likelihood is, for every connection,

        .. math::

            -\\frac{\\partial \\langle\\log p(\\mathbf v)\\rangle_{\\text{data}}}{\\partial w_{ij}}
            = \\langle s_i s_j\\rangle_{\\text{model}} - \\langle s_i s_j\\rangle_{\\text{data}},
            \\qquad
            -\\frac{\\partial \\langle\\log p(\\mathbf v)\\rangle_{\\text{data}}}{\\partial b_i}
            = \\langle s_i\\rangle_{\\text{model}} - \\langle s_i\\rangle_{\\text{data}}

        (negative phase minus positive phase), so a gradient step lowers the
        energy of states seen with the data and raises that of states the
        model produces on its own.

        With ``statistics="exact"`` the loss *is* the negative log-likelihood,
        :math:`\\langle F(\\mathbf v)\\rangle_{\\text{data}} + \\log Z`, and autograd
        gives exactly the rule above. With ``statistics="gibbs"`` it is the
        surrogate :math:`\\langle E(\\mathbf s^+)\\rangle - \\langle E(\\mathbf s^-)\\rangle`
        on sampled states held constant (clamped samples ``s+``, free-running
        persistent chains ``s-``): its value is not a likelihood, but its
        gradient is the rule with sampled statistics.

        Returns
        -------
        loss : scalar tensor
        metrics : dict
            ``nll`` (exact) or ``energy_gap`` (Gibbs).
        """
        v = batch[0] if isinstance(batch, (tuple, list)) else batch
        v = check_binary(v, self.n_visible, "BoltzmannMachine.loss").to(self.bias)
        if self.statistics == "exact":
            nll = self.free_energy(v).mean() + self.log_partition()
            return nll, {"nll": nll.detach()}
        sweeps = self.gibbs_sweeps
        with torch.no_grad():
            h0 = torch.randint(0, 2, (len(v), self.n_hidden), device=v.device).to(v)
            positive = self.gibbs(torch.cat([v, h0], 1), sweeps, clamp_visible=True)
            if len(self.chains) != self.n_chains:
                self.chains = torch.randint(0, 2, (self.n_chains, self.n_units), device=v.device).to(v)
            self.chains = self.gibbs(self.chains, sweeps)
        gap = self.energy(positive).mean() - self.energy(self.chains).mean()
        return gap, {"energy_gap": gap.detach()}

