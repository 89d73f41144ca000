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

import numbers

import torch
from torch import nn

from ..checks import check_unit_batch, converts_input, number, positive_int
from ..utils import ConstructorConfig, given_gradients
from .dbm_likelihood import DBMLikelihood, _log_marginal, layer_input
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


class DBM(ConstructorConfig, DBMLikelihood, nn.Module):
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
        # the constructor's arguments as attributes: `config` reads them back (ConstructorConfig)
        self.n_chains, self.mean_field_steps, self.gibbs_steps = n_chains, mean_field_steps, gibbs_steps
        self.weight_cost, self.init_std = weight_cost, init_std
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
        return torch.sigmoid(layer_input(self.weights, self.biases, self._check_states(states), layer))

    # ------------------------------------------------------------------ checks
    def check_batch(self, v: torch.Tensor, values: bool | None = None) -> None:
        """Shape (N, n_visible), finite, and in [0, 1]; the value checks by default only on the CPU."""
        check_unit_batch(v, self.n_visible, type(self).__name__, values)

    def check_data(self, X: torch.Tensor) -> None:
        """Validate a whole data set once; used by :func:`companion.fit`."""
        self.check_batch(X, values=True)

    # ------------------------------------------------------------------ inference
    def _mean_field(self, v: torch.Tensor, steps: int | None = None, init=None) -> list[torch.Tensor]:
        steps = self.mean_field_steps if steps is None else steps
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
                mus[l] = torch.sigmoid(layer_input(W, b, mus, l))
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
        return max((torch.sigmoid(layer_input(self.weights, self.biases, states, l)) - states[l]).abs().max().item()
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
                    states[l] = bernoulli(torch.sigmoid(layer_input(self.weights, self.biases, states, l)), generator)
        return states

    @torch.no_grad()
    def sample(self, n: int, steps: int = 1000, generator: torch.Generator | None = None) -> torch.Tensor:
        """Fantasies: ``p(v = 1 | h1)`` after ``steps`` Gibbs steps from random bits, shape (n, n_visible)."""
        w = self.weights[0]
        start = bernoulli(w.new_full((n, sum(self.layer_sizes)), 0.5), generator)
        states = self.gibbs(list(start.split(self.layer_sizes, 1)), steps, generator)
        return torch.sigmoid(layer_input(self.weights, self.biases, states, 0))

    # ------------------------------------------------------------------ training
    def _mean_field_free_energy(self, mus: list[torch.Tensor]) -> torch.Tensor:
        """:math:`F_Q(v) = \\mathbb E_Q[E(v, h)] - H(Q) \\ge F(v)`, shape (N,); ``mus = [v, mu_1, ...]``."""
        entropy = sum((torch.special.entr(mu) + torch.special.entr(1 - mu)).sum(-1) for mu in mus[1:])
        return -_log_marginal(self.weights, self.biases, mus, ()) - entropy

    def _advance_chains(self, like: torch.Tensor, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        n = self.n_chains
        c = self.chains
        if c.ndim != 2 or len(c) != n or c.dtype != like.dtype or c.device != like.device:
            self.chains = bernoulli(like.new_full((n, sum(self.layer_sizes)), 0.5), generator)
        states = self.gibbs(list(self.chains.split(self.layer_sizes, 1)), self.gibbs_steps, generator)
        self.chains = torch.cat(states, 1)
        return states

    #: in eval mode (validation) the loss is the mean-field reconstruction error, not the PCD surrogate:
    #: fit records it as val_recon, not as a val_loss that would read like the training loss
    eval_loss_name = "recon"

    @converts_input
    def loss(self, batch, generator: torch.Generator | None = None, monitor: bool = True
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
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
        ``monitor=False`` (what :func:`companion.fit` passes on the batches it does not
        record) skips them and the value, whose energies cost as many matrix products
        as the update: the loss then has the same gradient and a NaN value.
        """
        v = batch[0] if isinstance(batch, (tuple, list)) else batch
        self.check_batch(v, values=False)  # fit checked the values of the whole set once
        W, b, L = self.weights, self.biases, self.n_layers
        with torch.no_grad():
            mus = [v, *self._mean_field(v)]
            if monitor or not self.training:
                recon = ((v - torch.sigmoid(layer_input(W, b, mus, 0))) ** 2).sum(1).mean()
                free = self._mean_field_free_energy(mus).mean()
                metrics = {"recon": recon, "free_energy": free}
                if not self.training:
                    return recon, metrics
            fantasy = self._advance_chains(v, generator)
            if monitor:
                value = free + _log_marginal(W, b, fantasy, ()).mean()
            else:
                value, metrics = None, {}
            n, m = len(v), len(fantasy[0])
            # d E / d W_l = -x_l x_{l+1}^T: the surrogate's gradient is model minus data statistics
            grad_W = [torch.addmm(fantasy[l].T @ fantasy[l + 1], mus[l].T, mus[l + 1], beta=1 / m, alpha=-1 / n)
                      for l in range(L)]
            grad_b = [x.mean(0) - mu.mean(0) for x, mu in zip(fantasy, mus)]
        loss = given_gradients(value, (*W, *b), (*grad_W, *grad_b))
        if self.weight_cost:
            loss = loss + 0.5 * self.weight_cost * sum((w**2).sum() for w in W)
        return loss, metrics

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
                              down=2 if top else 1, k=k, weight_cost=self.weight_cost,
                              init_std=self.init_std).to(dtype)
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

    def extra_repr(self) -> str:
        return (f"layer_sizes={self.layer_sizes}, n_chains={self.n_chains}, "
                f"mean_field_steps={self.mean_field_steps}, gibbs_steps={self.gibbs_steps}")
