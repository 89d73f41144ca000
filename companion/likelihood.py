"""The likelihood layer below the models: exact sums over binary states, and annealed importance sampling.

Every exact likelihood in the package (Boltzmann machines, the RBMs, the DBN's
bound, the DBM) sums over the binary states of some units, and every model
enumerates them here: :func:`binary_states` in one order, refused beyond one
limit, :data:`MAX_EXACT_UNITS`, by :func:`check_enumerable`. Models whose
partition function is out of reach estimate it by annealed importance sampling
(Neal 2001; Salakhutdinov & Murray 2008) through :func:`anneal`: the model
supplies one annealing step (the change of the log unnormalized probability
from one inverse temperature to the next, then a transition that leaves the
new distribution invariant), and this module supplies the rest: the
temperatures (:func:`ais_betas`), the base-rate model (:func:`ais_base`), the
private random generator, and the log-mean-exp of the weights with its ±3σ
interval (:func:`ais_result`).

The models import this module; it imports no model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch

from .checks import positive_int

MAX_EXACT_UNITS = 20


def _state_count(n: int) -> str:
    """2^n written out, or as a power of ten when it is too long to read."""
    return f"{2 ** n:,}" if n <= 40 else f"about 10^{n * math.log10(2):.0f}"


def check_enumerable(n: int, what: str = "an exact sum", instead: str = "Use Gibbs sampling or AIS") -> None:
    """Raise a clear error if ``what`` would sum over the 2^n states of more than :data:`MAX_EXACT_UNITS` units."""
    if n > MAX_EXACT_UNITS:
        raise ValueError(
            f"{what} sums over all 2^{n} = {_state_count(n)} states of {n} binary units (the number doubles "
            f"with every unit); the limit is {MAX_EXACT_UNITS} units (2^{MAX_EXACT_UNITS} = "
            f"{2 ** MAX_EXACT_UNITS:,} states). {instead}."
        )


def binary_states(n: int, start: int = 0, stop: int | None = None, *, device=None,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Rows ``start..stop-1`` of all 2^n binary vectors, in counting order: (stop - start, n).

    Unit 0 is the most significant bit, so the full table is
    ``itertools.product([0, 1], repeat=n)``; slices let a caller sum in chunks.
    """
    return indexed_states(torch.arange(start, 2**n if stop is None else stop, device=device), n, dtype)


def indexed_states(index: torch.Tensor, n: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The states of :func:`binary_states` at the given positions (e.g. drawn from p(state)): (len(index), n)."""
    return ((index[:, None] >> torch.arange(n - 1, -1, -1, device=index.device)) & 1).to(dtype)


def state_terms(n: int, terms: Callable[[torch.Tensor], torch.Tensor], chunk: int, *, device=None,
                dtype: torch.dtype = torch.float64, dim: int = 0) -> torch.Tensor:
    """``terms(states)`` of all 2^n states in counting order, evaluated ``chunk`` states at a time.

    ``terms`` maps a (chunk, n) block of states to their values along ``dim``.
    """
    return torch.cat([terms(binary_states(n, start, min(2**n, start + chunk), device=device, dtype=dtype))
                      for start in range(0, 2**n, chunk)], dim)


def logsumexp_states(n: int, terms: Callable[[torch.Tensor], torch.Tensor], chunk: int, *, device=None,
                     dtype: torch.dtype = torch.float64, dim: int = 0) -> torch.Tensor:
    """:math:`\\log \\sum_s e^{t(s)}` over the 2^n states (:func:`state_terms`, chunk by chunk)."""
    return torch.logsumexp(state_terms(n, terms, chunk, device=device, dtype=dtype, dim=dim), dim)


@torch.no_grad()
def rbm_log_partition(W: torch.Tensor, b: torch.Tensor, c: torch.Tensor, chunk: int = 2**14) -> float:
    """:math:`\\log Z` of a binary RBM with weights ``W`` (n_v, n_h) and biases ``b``, ``c``, in float64.

    Enumerates the smaller layer and sums out the other analytically,

    .. math:: \\log Z = \\log \\sum_{h} \\exp\\Big(c^\\top h + \\sum_i
              \\operatorname{softplus}(b_i + (W h)_i)\\Big)

    (or the same over v), which costs :math:`2^{\\min(n_v, n_h)}` terms; refused beyond
    :data:`MAX_EXACT_UNITS`.
    """
    import torch.nn.functional as F

    W, b, c = (t.detach().double() for t in (W, b, c))
    n_v, n_h = W.shape
    n = min(n_v, n_h)
    check_enumerable(n, f"exact log Z of an RBM with n_visible={n_v}, n_hidden={n_h} (its smaller layer)",
                     "Use ais_log_partition(rbm) for an estimate")

    def terms(s):  # states of the smaller layer; the other one summed out
        if n_h <= n_v:
            return s @ c + F.softplus(s @ W.T + b, threshold=40).sum(1)
        return s @ b + F.softplus(s @ W + c, threshold=40).sum(1)

    return logsumexp_states(n, terms, chunk, device=W.device).item()


# ---------------------------------------------------------------------- estimates and their errors
@dataclass
class LikelihoodEstimate:
    """A mean log-likelihood in nats per example, with its standard error over examples."""

    mean: float
    stderr: float
    per_example: torch.Tensor
    k: int | None = None

    def __str__(self) -> str:
        k = "" if self.k is None else f"k = {self.k}, "
        return f"{self.mean:.2f} ± {self.stderr:.2f} nats ({k}n = {len(self.per_example)})"


def summarize(per_example: torch.Tensor, k: int | None = None) -> LikelihoodEstimate:
    """Mean and standard error over examples of per-example log-likelihoods."""
    per_example = per_example.double().cpu()
    stderr = per_example.std().item() / math.sqrt(len(per_example)) if len(per_example) > 1 else float("nan")
    return LikelihoodEstimate(per_example.mean().item(), stderr, per_example, k)


# ---------------------------------------------------------------------- annealed importance sampling
@dataclass
class AISResult:
    """An AIS estimate of :math:`\\log Z` with its ±3σ interval (in log space).

    ``lower`` is ``-inf`` when the interval on Z reaches zero (the weights are
    too spread out: use more temperatures or chains).
    """

    log_z: float
    lower: float
    upper: float
    log_z_base: float
    log_weights: torch.Tensor
    n_betas: int

    @property
    def n_chains(self) -> int:
        return len(self.log_weights)

    def __float__(self) -> float:
        return self.log_z

    def __str__(self) -> str:
        return (f"log Z ≈ {self.log_z:.2f} (±3σ: {self.lower:.2f} to {self.upper:.2f}; "
                f"{self.n_chains} chains, {self.n_betas} temperatures)")


def ais_betas(n_betas: int) -> torch.Tensor:
    """``n_betas`` inverse temperatures 0 = β_0 < ... < β_K = 1, denser near 1.

    The proportions follow Salakhutdinov & Murray (2008): 500 steps on
    [0, 0.5], 4,000 on [0.5, 0.9], 10,000 on [0.9, 1] for K = 14,500.
    """
    n_betas = positive_int(n_betas, "n_betas")
    if n_betas < 4:
        raise ValueError(f"n_betas={n_betas}: use at least 4 temperatures (thousands for a real estimate).")
    k1 = max(1, round(n_betas * 500 / 14500))
    k2 = max(1, round(n_betas * 4000 / 14500))
    k3 = max(1, n_betas - 1 - k1 - k2)
    return torch.cat([
        torch.linspace(0.0, 0.5, k1 + 1, dtype=torch.float64)[:-1],
        torch.linspace(0.5, 0.9, k2 + 1, dtype=torch.float64)[:-1],
        torch.linspace(0.9, 1.0, k3 + 1, dtype=torch.float64),
    ])


def base_rate_bias(X: torch.Tensor, eps: float = 0.05) -> torch.Tensor:
    """Visible biases of the base-rate model, :math:`\\log(p_i/(1-p_i))` of smoothed pixel means.

    ``eps`` pulls the means away from 0 and 1 by pseudo-counts (Salakhutdinov & Murray add 5 per pixel).
    """
    p = (X.reshape(len(X), -1).double().sum(0) + eps * len(X)) / (len(X) * (1 + 2 * eps))
    return torch.log(p) - torch.log1p(-p)


def ais_base(base: torch.Tensor | None, n_visible: int, like: torch.Tensor) -> torch.Tensor:
    """The base-rate model's visible biases :math:`b_A`, shaped and typed as ``like``: (n_visible,).

    ``base`` is None (zero biases: a uniform base, which needs more
    temperatures), the biases themselves (n_visible,), or training data
    (N, n_visible) whose smoothed pixel means give them (:func:`base_rate_bias`).
    """
    if base is None:
        return torch.zeros(n_visible, dtype=like.dtype, device=like.device)
    base = torch.as_tensor(base)
    if base.ndim == 1:
        if base.shape != (n_visible,):
            raise ValueError(f"base biases must have shape ({n_visible},), got {tuple(base.shape)}.")
        return base.to(like)
    if base.shape[1:].numel() != n_visible:
        raise ValueError(f"base data must have {n_visible} features per row, got {tuple(base.shape)}.")
    return base_rate_bias(base).to(like)


def anneal(state: Any, step: Callable[[Any, float, float], tuple[torch.Tensor, Any]], *, n_chains: int,
           n_betas: int = 10000, betas=None, log_z_base: float) -> AISResult:
    """Run AIS chains from the base model (β = 0) to the model (β = 1) and estimate :math:`\\log Z`.

    Parameters
    ----------
    state : the chains' state at β = 0, exact samples of the base model
    step : callable ``(state, beta_prev, beta) -> (delta, state)``
        ``delta`` (n_chains,) is :math:`\\log p^*_{\\beta}(x) - \\log p^*_{\\beta_{prev}}(x)` at the
        current state; the returned state is one transition that leaves
        :math:`p_\\beta` invariant (skipped at β = 1, where it is not needed).
    n_chains : int (at least 2, for an interval)
    n_betas, betas : the schedule, :func:`ais_betas` (``n_betas``) or an explicit one from 0 to 1
    log_z_base : :math:`\\log Z` of the base model

    Returns
    -------
    AISResult
        :math:`\\log \\hat Z = \\log Z_A + \\log \\operatorname{mean}(w)`, with
        :math:`\\log w = \\sum_k \\text{delta}_k`, and its ±3σ interval.
    """
    ais_chains(n_chains)
    betas = ais_betas(n_betas) if betas is None else torch.as_tensor(betas, dtype=torch.float64)
    if betas.ndim != 1 or len(betas) < 2 or betas[0] != 0 or betas[-1] != 1 or (betas.diff() <= 0).any():
        raise ValueError("betas must increase strictly from 0 to 1.")
    schedule = betas.tolist()
    log_w = None
    for beta_prev, beta in zip(schedule[:-1], schedule[1:]):
        delta, state = step(state, beta_prev, beta)
        log_w = delta.double() if log_w is None else log_w + delta.double()
    return ais_result(log_w, log_z_base, len(schedule))


def ais_chains(n_chains) -> int:
    """``n_chains`` as an int, at least 2 (one chain gives no interval); check it before sampling the chains."""
    return positive_int(n_chains, "n_chains (AIS runs, at least 2 to give an interval)", 2)


def ais_generator(device: torch.device, seed: int | None) -> torch.Generator:
    """A private generator on ``device``, seeded by ``seed`` (from the OS when None); the global state is untouched."""
    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed)
    return gen


def ais_result(log_w: torch.Tensor, log_z_base: float, n_betas: int) -> AISResult:
    """Combine the chains' log importance weights into log Z and its ±3σ interval.

    :math:`\\hat Z = Z_A \\cdot \\overline{w}`; the interval is
    :math:`\\log(\\overline w \\pm 3\\,\\mathrm{se}(w))` (open below when the lower end is not positive).
    """
    n_chains = len(log_w)
    shift = log_w.max()
    w = torch.exp(log_w - shift)
    mean, sigma = w.mean(), w.std() / math.sqrt(n_chains)
    log_z = (torch.log(mean) + shift).item() + log_z_base
    upper = (torch.log(mean + 3 * sigma) + shift).item() + log_z_base
    lower = (torch.log(mean - 3 * sigma) + shift).item() + log_z_base if mean > 3 * sigma else -math.inf
    return AISResult(log_z, lower, upper, log_z_base, log_w.cpu(), n_betas)
