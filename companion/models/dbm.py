"""Deep Boltzmann machines of binary units (Salakhutdinov & Hinton 2009, AISTATS).

Layers :math:`x_0 = v, x_1, \\dots, x_L` of binary units, weights :math:`W_l` of
shape (n_l, n_{l+1}) between neighbouring layers only, and a bias :math:`b_l`
for every layer (the visible one included):

.. math:: E(v, h^1, \\dots, h^L) = -\\sum_{l=0}^{L} b_l^\\top x_l
          - \\sum_{l=0}^{L-1} x_l^\\top W_l\\, x_{l+1}.

A layer sees only its two neighbours, so its units are independent given them,

.. math:: p(x_l = 1 \\mid x_{l-1}, x_{l+1}) = \\sigma(b_l + x_{l-1} W_{l-1} + x_{l+1} W_l^\\top),

and the even layers (v, h2, ...) are independent given the odd ones and vice
versa: block Gibbs sampling alternates the two sets. Unlike an RBM, the
posterior p(h | v) is not factorial once L >= 2 (h1 and h2 interact), so
learning (:meth:`DBM.loss`) takes the data-dependent statistics from a
mean-field posterior and the model's from persistent Gibbs chains; the
weights start from a stack of modified RBMs (:meth:`DBM.pretrain`); the
likelihood is bounded below by the mean-field bound, with log Z from
enumeration (tiny models) or annealed importance sampling (L = 2).
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_unit_batch, converts_input, number, positive_int
from ..likelihood import (AISResult, ais_base, ais_chains, ais_generator, anneal, check_enumerable, logsumexp_states,
                          summarize)
from ..utils import given_gradients
from .rbm import BernoulliRBM, bernoulli


def _check_sizes(layer_sizes) -> tuple[int, ...]:
    if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__iter__"):
        raise ValueError(f"layer_sizes must be a sequence (n_visible, n_h1, ..., n_hL), got {layer_sizes!r}.")
    sizes = tuple(layer_sizes)
    if len(sizes) < 2:
        raise ValueError(f"layer_sizes needs the visible layer and at least one hidden layer, e.g. "
                         f"(784, 500, 1000); got {sizes}.")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
            raise ValueError(f"layer_sizes must be positive integers; got {sizes}, where {s!r} is not.")
    return tuple(int(s) for s in sizes)


def _layer_input(W, b, states, l: int) -> torch.Tensor:
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
            out = out + F.softplus(_layer_input(W, b, states, l), threshold=40).sum(-1)
        else:
            out = out + x @ b[l]
            if l < len(W) and l + 1 not in summed:
                out = out + ((x @ W[l]) * states[l + 1]).sum(-1)
    return out


def _binary(v: torch.Tensor, what: str) -> None:
    if ((v != 0) & (v != 1)).any():
        raise ValueError(f"{what} needs binary data (0/1): binarize the pixels first; grey levels have no "
                         "probability under a model of binary units.")


class _DoubledRBM(BernoulliRBM):
    """A BernoulliRBM whose bottom-up (``up=2``) or top-down (``down=2``) weights count twice.

    ``up=2`` gives :math:`p(h \\mid v) = \\sigma(2 v W + c)`, :math:`p(v \\mid h) =
    \\sigma(h W^\\top + b)`: the conditionals of an RBM whose visible layer is v
    twice with tied weights. It is trained by CD-k on the usual statistics
    :math:`\\langle v h^\\top\\rangle` (as in Salakhutdinov's code).
    """

    def __init__(self, n_visible: int, n_hidden: int, *, up: int = 1, down: int = 1, **kwargs):
        super().__init__(n_visible, n_hidden, **kwargs)
        self.up, self.down = up, down

    def hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.c, v, self.W, alpha=self.up)

    def visible_input(self, h: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.b, h, self.W.t(), alpha=self.down)


class DBM(nn.Module):
    """Deep Boltzmann machine with binary visible and hidden layers.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``(n_visible, n_h1, ..., n_hL)``, L >= 1 hidden layers. L = 2 is the
        paper's case (and the only one :meth:`ais_log_partition` handles);
        L = 1 is an RBM.
    n_chains : int
        Persistent fantasy particles for the model statistics (the paper: 100).
    mean_field_steps : int
        Mean-field sweeps per example (training, features, bound).
    gibbs_steps : int
        Gibbs steps the fantasy particles advance per update.
    weight_cost : float
        L2 penalty ``weight_cost/2 * sum_l ||W_l||^2`` on the weights only
        (also used by :meth:`pretrain`).
    init_std : float
        Weights start as N(0, init_std^2), biases at zero.
    """

    supports_amp = False  # sampling and free energies want full precision

    def __init__(self, layer_sizes, *, n_chains: int = 100, mean_field_steps: int = 10, gibbs_steps: int = 1,
                 weight_cost: float = 0.0, init_std: float = 0.01):
        super().__init__()
        sizes = _check_sizes(layer_sizes)
        n_chains, mean_field_steps, gibbs_steps = (positive_int(v, name) for v, name in (
            (n_chains, "n_chains"), (mean_field_steps, "mean_field_steps"), (gibbs_steps, "gibbs_steps")))
        weight_cost, init_std = number(weight_cost, "weight_cost", 0), number(init_std, "init_std", 0)
        self.config = dict(layer_sizes=sizes, n_chains=n_chains, mean_field_steps=mean_field_steps,
                           gibbs_steps=gibbs_steps, weight_cost=weight_cost, init_std=init_std)
        self.layer_sizes, self.n_visible, self.n_layers = sizes, sizes[0], len(sizes) - 1
        self.weights = nn.ParameterList(nn.Parameter(torch.randn(m, n) * init_std) for m, n in zip(sizes, sizes[1:]))
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(n)) for n in sizes)
        # fantasy particles, all layers side by side (n_chains, sum(layer_sizes)): state, not parameters
        self.register_buffer("chains", torch.empty(0), persistent=False)
        self.pretrained_rbms: list[BernoulliRBM] = []

    # ------------------------------------------------------------------ equations
    def _check_states(self, states, what: str = "states") -> list:
        if len(states) != self.n_layers + 1:
            raise ValueError(f"{what}: expected {self.n_layers + 1} layers (v, h1, ..., hL), got {len(states)}.")
        for l, (x, n) in enumerate(zip(states, self.layer_sizes)):
            if x is not None and x.shape[-1] != n:
                raise ValueError(f"{what}: layer {l} has {x.shape[-1]} units, the model {n}.")
        return list(states)

    def energy(self, states) -> torch.Tensor:
        """:math:`E = -\\sum_l b_l^\\top x_l - \\sum_l x_l^\\top W_l x_{l+1}`, one value per row.

        ``states`` is a list ``[v, h1, ..., hL]`` of tensors (N, n_l) (binary, or
        probabilities: with factorial ``Q``, ``energy([v, *mus])`` is
        :math:`\\mathbb E_Q[E]`). Returns shape (N,).
        """
        states = self._check_states(states)
        return -_log_marginal(self.weights, self.biases, states, ())

    def conditional(self, states, layer: int) -> torch.Tensor:
        """:math:`p(x_l = 1 \\mid x_{l-1}, x_{l+1}) = \\sigma(b_l + x_{l-1} W_{l-1} + x_{l+1} W_l^\\top)`.

        Only the neighbours of ``layer`` are read from ``states`` (the others may
        be None); shapes broadcast, giving (..., n_layer).
        """
        return torch.sigmoid(_layer_input(self.weights, self.biases, self._check_states(states), layer))

    # ------------------------------------------------------------------ checks
    def check_batch(self, v: torch.Tensor, values: bool | None = None) -> None:
        """Shape (N, n_visible), finite, and in [0, 1]; the value checks by default only on the CPU."""
        check_unit_batch(v, self.n_visible, type(self).__name__, values)

    def check_data(self, X: torch.Tensor) -> None:
        """Validate a whole data set once; used by :func:`companion.fit`."""
        self.check_batch(X, values=True)

    # ------------------------------------------------------------------ inference
    def _mean_field(self, v: torch.Tensor, steps: int | None = None, init=None) -> list[torch.Tensor]:
        steps = self.config["mean_field_steps"] if steps is None else steps
        W, b, L = self.weights, self.biases, self.n_layers
        if init is None:
            mus = [v]
            for l in range(1, L + 1):
                # a layer below the top also gets top-down input in the DBM; the recognition pass has
                # none yet, so it counts the bottom-up input twice instead (SH2009, sec. 3.1)
                mus.append(torch.sigmoid(torch.addmm(b[l], mus[-1], W[l - 1], alpha=2.0 if l < L else 1.0)))
        else:
            mus = self._check_states([v, *init], "init")
        for _ in range(steps):
            # layer by layer, each with its neighbours' newest values: every update is the exact
            # maximum of the bound over that layer, so the bound never decreases
            for l in range(1, L + 1):
                mus[l] = torch.sigmoid(_layer_input(W, b, mus, l))
        return mus[1:]

    @torch.no_grad()
    @converts_input
    def mean_field(self, v: torch.Tensor, steps: int | None = None, init=None) -> list[torch.Tensor]:
        """Factorial posterior :math:`Q(h) = \\prod_l \\prod_j \\mu_{lj}^{h_{lj}} (1-\\mu_{lj})^{1-h_{lj}}`.

        Iterates the fixed-point equations

        .. math:: \\mu_l \\leftarrow \\sigma(b_l + \\mu_{l-1} W_{l-1} + \\mu_{l+1} W_l^\\top),
                  \\qquad \\mu_0 = v,\\ \\text{no } \\mu_{L+1} \\text{ term},

        for l = 1..L in turn, ``steps`` sweeps (default ``mean_field_steps``),
        each of which raises the variational bound. Starts from ``init`` (a list
        of L tensors) or a bottom-up pass with doubled weights below the top
        layer, :math:`\\mu_l = \\sigma(2\\mu_{l-1} W_{l-1} + b_l)`, top layer
        :math:`\\sigma(\\mu_{L-1} W_{L-1} + b_L)`.

        Returns
        -------
        list of tensors ``[mu_1, ..., mu_L]``, shapes (N, n_l).
        """
        self.check_batch(v)
        return self._mean_field(v, steps, init)

    @torch.no_grad()
    def mean_field_residual(self, v: torch.Tensor, mus) -> float:
        """Largest :math:`|\\sigma(b_l + \\mu_{l-1} W_{l-1} + \\mu_{l+1} W_l^\\top) - \\mu_l|` over all layers.

        Zero exactly at a fixed point of the mean-field equations.
        """
        states = self._check_states([v, *mus], "mus")
        return max((torch.sigmoid(_layer_input(self.weights, self.biases, states, l)) - states[l]).abs().max().item()
                   for l in range(1, self.n_layers + 1))

    @torch.no_grad()
    @converts_input
    def transform(self, v: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """Mean-field features ``[mu_1, ..., mu_L]`` side by side, shape (N, n_h1 + ... + n_hL)."""
        return torch.cat(self.mean_field(v, steps), 1)

    @torch.no_grad()
    def gibbs(self, states, steps: int = 1, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """``steps`` block Gibbs steps from ``states = [v, h1, ..., hL]``; returns the new list.

        A step samples the odd layers (h1, h3, ...) given the even ones, then the
        even layers (v, h2, ...) given the odd ones: each set is factorial given
        the other, so the two samples are exact conditionals.
        """
        states = self._check_states(states)
        for _ in range(steps):
            for parity in (1, 0):
                for l in range(parity, self.n_layers + 1, 2):
                    states[l] = bernoulli(torch.sigmoid(_layer_input(self.weights, self.biases, states, l)), generator)
        return states

    @torch.no_grad()
    def sample(self, n: int, steps: int = 1000, generator: torch.Generator | None = None) -> torch.Tensor:
        """Fantasies: ``p(v = 1 | h1)`` after ``steps`` Gibbs steps from random bits, shape (n, n_visible)."""
        w = self.weights[0]
        start = bernoulli(w.new_full((n, sum(self.layer_sizes)), 0.5), generator)
        states = self.gibbs(list(start.split(self.layer_sizes, 1)), steps, generator)
        return torch.sigmoid(_layer_input(self.weights, self.biases, states, 0))

    # ------------------------------------------------------------------ training
    def _mean_field_free_energy(self, mus: list[torch.Tensor]) -> torch.Tensor:
        """:math:`F_Q(v) = \\mathbb E_Q[E(v, h)] - H(Q) \\ge F(v)`, shape (N,); ``mus = [v, mu_1, ...]``."""
        entropy = sum((torch.special.entr(mu) + torch.special.entr(1 - mu)).sum(-1) for mu in mus[1:])
        return -_log_marginal(self.weights, self.biases, mus, ()) - entropy

    def _advance_chains(self, like: torch.Tensor) -> list[torch.Tensor]:
        n = self.config["n_chains"]
        c = self.chains
        if c.ndim != 2 or len(c) != n or c.dtype != like.dtype or c.device != like.device:
            self.chains = bernoulli(like.new_full((n, sum(self.layer_sizes)), 0.5))
        states = self.gibbs(list(self.chains.split(self.layer_sizes, 1)), self.config["gibbs_steps"])
        self.chains = torch.cat(states, 1)
        return states

    @converts_input
    def loss(self, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The SH2009 learning rule as a surrogate loss for :func:`companion.fit`.

        .. math:: -\\frac{\\partial \\mathcal L}{\\partial W_l} =
                  \\langle x_l x_{l+1}^\\top \\rangle_{\\text{data}}
                  - \\langle x_l x_{l+1}^\\top \\rangle_{\\text{model}},
                  \\qquad -\\frac{\\partial \\mathcal L}{\\partial b_l} =
                  \\langle x_l \\rangle_{\\text{data}} - \\langle x_l \\rangle_{\\text{model}},

        the data averages taken under the mean-field posterior (:math:`x_0 = v`,
        :math:`x_l = \\mu_l`), the model averages over the ``n_chains``
        persistent fantasy particles, advanced ``gibbs_steps`` per update
        (started at random bits on first use, restarted on a new dtype or
        device). The value is :math:`\\operatorname{mean} F_Q(v) -
        \\operatorname{mean} E(\\tilde x)`, whose gradient with Q and the
        particles held fixed is exactly this rule; ``weight_cost`` adds
        :math:`\\tfrac{\\lambda}{2}\\sum_l \\|W_l\\|^2`. In eval mode no chain
        moves and the loss is ``recon``.

        Metrics: ``recon`` (squared error per example, summed over pixels, of
        :math:`p(v \\mid h^1 = \\mu_1)`, one mean-field pass up and one step down)
        and ``free_energy`` (mean :math:`F_Q(v)`, the negative bound without log Z).
        """
        v = batch[0] if isinstance(batch, (tuple, list)) else batch
        self.check_batch(v, values=False)  # fit checked the values of the whole set once
        W, b, L = self.weights, self.biases, self.n_layers
        with torch.no_grad():
            mus = [v, *self._mean_field(v)]
            recon = ((v - torch.sigmoid(_layer_input(W, b, mus, 0))) ** 2).sum(1).mean()
            free = self._mean_field_free_energy(mus).mean()
            if not self.training:
                return recon, {"recon": recon, "free_energy": free}
            fantasy = self._advance_chains(v)
            value = free + _log_marginal(W, b, fantasy, ()).mean()
            n, m = len(v), len(fantasy[0])
            # d E / d W_l = -x_l x_{l+1}^T: the surrogate's gradient is model minus data statistics
            grad_W = [torch.addmm(fantasy[l].T @ fantasy[l + 1], mus[l].T, mus[l + 1], beta=1 / m, alpha=-1 / n)
                      for l in range(L)]
            grad_b = [x.mean(0) - mu.mean(0) for x, mu in zip(fantasy, mus)]
        loss = given_gradients(value, (*W, *b), (*grad_W, *grad_b))
        if self.config["weight_cost"]:
            loss = loss + 0.5 * self.config["weight_cost"] * sum((w**2).sum() for w in W)
        return loss, {"recon": recon, "free_energy": free}

    def pretrain(self, X: torch.Tensor, *, epochs: int = 10, lr: float = 0.05, batch_size: int = 100, k: int = 1,
                 fit_fn=None, **fit_kwargs) -> list:
        """Greedy layer-wise pretraining (SH2009, sec. 3.1), for any L; returns one History per RBM.

        Recipe: a stack of L RBMs trained by CD-k with :func:`companion.fit`
        (default SGD with momentum 0.9), each on the hidden probabilities of
        the one below; every visible bias starts at the log-odds of its input's means.

        * L = 1: an ordinary RBM, copied as is.
        * bottom RBM (v, h1): bottom-up weights doubled, :math:`p(h^1 \\mid v) =
          \\sigma(2 v W_0 + c)`, :math:`p(v \\mid h^1) = \\sigma(h^1 W_0^\\top + b)`
          (an RBM on v twice with tied weights); the DBM keeps :math:`W_0`.
        * top RBM (h^{L-1}, h^L): top-down weights doubled, :math:`p(h^{L-1}
          \\mid h^L) = \\sigma(2 h^L W^\\top + b)`; the DBM keeps its W.
        * middle RBMs: ordinary RBMs with weights U; the DBM uses U / 2.

        Each hidden layer of the DBM then gets half of its bottom-up input
        from the RBM below and half of its top-down input from the RBM above,
        which together stand in for the two doubled inputs it had in
        pretraining. ``fit_fn`` stands in for :func:`companion.fit` (e.g. a
        checkpointing wrapper), with the same signature. Biases: :math:`b_0` = the bottom RBM's visible bias,
        :math:`b_L` = the top RBM's hidden bias, and a layer in between the
        mean of its two RBMs' biases (halved like the weights). The stack is
        kept in ``pretrained_rbms``; see :meth:`load_rbms`.
        """
        from ..train import fit

        X = torch.as_tensor(X)
        self.check_data(X)
        fit_kwargs.setdefault("optimizer", "sgd")
        if fit_kwargs["optimizer"] == "sgd":
            fit_kwargs.setdefault("optimizer_kwargs", {"momentum": 0.9})
        L, dtype = self.n_layers, self.weights[0].dtype
        x, rbms, histories = X.to(dtype), [], []
        for l in range(L):
            bottom, top = l == 0 and L > 1, l == L - 1 and L > 1
            rbm = _DoubledRBM(self.layer_sizes[l], self.layer_sizes[l + 1], up=2 if bottom else 1,
                              down=2 if top else 1, k=k, weight_cost=self.config["weight_cost"],
                              init_std=self.config["init_std"]).to(dtype)
            rbm.init_visible_bias(x)
            histories.append((fit_fn or fit)(rbm, x, epochs=epochs, lr=lr, batch_size=batch_size, **fit_kwargs))
            rbms.append(rbm)
            if l < L - 1:
                with torch.no_grad():
                    x = torch.cat([rbm.p_h_given_v(xb.to(rbm.W.device)).to(x.device) for xb in x.split(4096)])
        self.to(rbms[0].W.device)  # like fit, leave the model where it was trained
        self.load_rbms(rbms)
        self.pretrained_rbms = rbms
        return histories

    @torch.no_grad()
    def load_rbms(self, rbms) -> "DBM":
        """Copy a stack of L RBMs (bottom first) into the DBM with the scaling of :meth:`pretrain`.

        :math:`W_l` = RBM l's W for the bottom and top RBMs, half of it for the
        middle ones; :math:`b_0 = b^{(0)}`, :math:`b_L = c^{(L-1)}`,
        :math:`b_l = (c^{(l-1)} + b^{(l)}) / 2` in between. The fantasy
        particles restart.
        """
        L = self.n_layers
        if len(rbms) != L or any(tuple(r.W.shape) != tuple(w.shape) for r, w in zip(rbms, self.weights)):
            raise ValueError(f"need {L} RBMs of shapes {[tuple(w.shape) for w in self.weights]}, got "
                             f"{[tuple(r.W.shape) for r in rbms]}.")
        for l, rbm in enumerate(rbms):
            self.weights[l].copy_(rbm.W / 2 if 0 < l < L - 1 else rbm.W)
        self.biases[0].copy_(rbms[0].b)
        self.biases[L].copy_(rbms[-1].c)
        for l in range(1, L):
            self.biases[l].copy_((rbms[l - 1].c.to(self.biases[l]) + rbms[l].b.to(self.biases[l])) / 2)
        self.chains = torch.empty(0, device=self.chains.device)
        return self

    # ------------------------------------------------------------------ likelihood
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

    def extra_repr(self) -> str:
        c = self.config
        return (f"layer_sizes={self.layer_sizes}, n_chains={c['n_chains']}, "
                f"mean_field_steps={c['mean_field_steps']}, gibbs_steps={c['gibbs_steps']}")
