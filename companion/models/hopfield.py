"""Hopfield networks: Hebbian storage, an energy, and the dynamics that descend it.

A :class:`HopfieldNetwork` has N units with states :math:`s_i \\in \\{-1, +1\\}`,
symmetric weights with a zero diagonal and a bias (external field) per unit.
Patterns are stored in one shot by the Hebb rule; recall runs the update
dynamics from a (corrupted) state until it stops at a fixed point.

States are **±1 spins**. Data in {0, 1} (binarized pixels) must be converted
first with :func:`to_spins` (0 -> -1, 1 -> +1): every method raises an error
on 0/1 input instead of guessing, because the Hebb rule applied to 0/1 values
is a different (and much worse) rule: products of 0/1 values are never
negative, so it can only strengthen connections.

The capacity theory and its measurement live in
:mod:`companion.models.hopfield_capacity`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..checks import positive_int, require_finite
from ..utils import ConstructorConfig

MODES = ("async", "sync")


def to_spins(x: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Map data in [0, 1] (e.g. pixels) to ±1 spins: ``+1`` where ``x > threshold``, else ``-1``.

    Binary data {0, 1} become {-1, +1}; grey levels are thresholded. The result
    is float32, same shape as ``x``.
    """
    x = torch.as_tensor(x)
    require_finite(x, "to_spins: the input contains")
    return torch.where(x > threshold, 1.0, -1.0).float()


def from_spins(s: torch.Tensor) -> torch.Tensor:
    """Map ±1 spins back to {0, 1} (for plotting as images)."""
    return (torch.as_tensor(s).float() + 1) / 2


def check_spins(s, n_units: int, name: str) -> torch.Tensor:
    """Raise a clear error unless ``s`` is a ±1 state (N,) or batch of states (B, N); return it as (B, N)."""
    if not isinstance(s, torch.Tensor):
        raise TypeError(f"{name} expects a torch.Tensor of ±1 states, got {type(s).__name__}.")
    if s.ndim not in (1, 2) or s.shape[-1] != n_units:
        raise ValueError(
            f"{name} expects a state of shape ({n_units},) or a batch of shape (B, {n_units}), "
            f"got {tuple(s.shape)}; flatten images first, e.g. x.reshape(len(x), -1)."
        )
    s = s.reshape(-1, n_units)
    require_finite(s, f"{name}: the states contain")
    if not ((s == 1) | (s == -1)).all():
        found = torch.unique(s).tolist()[:6]
        hint = (
            " The values look like {0, 1}: convert them with companion.models.hopfield.to_spins(x) "
            "(0 -> -1, 1 -> +1)."
            if ((s == 0) | (s == 1)).all()
            else " Threshold or binarize the data first, e.g. to_spins(x)."
        )
        raise ValueError(f"{name}: a Hopfield state must hold only -1 and +1, found values {found}.{hint}")
    return s


def flip(s: torch.Tensor, fraction: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Flip exactly ``round(fraction * N)`` randomly chosen units of every row of ``s`` (B, N).

    A new tensor; ``s`` is not modified. Each row gets its own random set of units.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}.")
    s = s.reshape(-1, s.shape[-1]).clone()
    n_flip = int(round(fraction * s.shape[1]))
    if n_flip:
        keys = torch.rand(s.shape, generator=generator).to(s.device)
        idx = keys.argsort(dim=1)[:, :n_flip]
        s.scatter_(1, idx, -s.gather(1, idx))
    return s


def overlap(s: torch.Tensor, patterns: torch.Tensor) -> torch.Tensor:
    """Overlaps :math:`m = \\frac1N \\mathbf s^\\top \\boldsymbol\\xi`: 1 for the pattern, -1 for its inverse.

    ``s`` (B, N) and ``patterns`` (P, N) give a (B, P) matrix; the fraction of
    wrong bits of state b against pattern p is ``(1 - m[b, p]) / 2``.
    """
    return s.float() @ patterns.float().T / s.shape[-1]


@dataclass
class RecallResult:
    """What :meth:`HopfieldNetwork.recall` returns.

    Attributes
    ----------
    states : (B, N) tensor
        The final states.
    converged : (B,) bool tensor
        Whether each row stopped at a fixed point (every unit agrees with its field).
    sweeps : int
        Sweeps run (asynchronous: N single-unit updates each; synchronous: one
        parallel update each).
    energies : (sweeps + 1, B) tensor
        The energy of every row before the first and after every sweep.
    two_cycle : (B,) bool tensor
        Synchronous mode only (all False otherwise): the row alternates between
        two states, ``s(t + 1) == s(t - 1) != s(t)``.
    """

    states: torch.Tensor
    converged: torch.Tensor
    sweeps: int
    energies: torch.Tensor
    two_cycle: torch.Tensor


class HopfieldNetwork(ConstructorConfig, nn.Module):
    """A Hopfield network of ``n_units`` ±1 units (Hopfield 1982).

    Parameters
    ----------
    n_units : int
        N, the number of units.

    Attributes
    ----------
    weight : (N, N) buffer
        Symmetric, zero diagonal. Set by :meth:`store` (Hebb rule) or :meth:`set_weights`.
    bias : (N,) buffer
        :math:`\\theta`, the external field of each unit (a threshold of :math:`-\\theta_i`).
    n_patterns : int
        Patterns stored so far by :meth:`store`.

    Notes
    -----
    Nothing here is trained by gradient descent, so the weights are buffers:
    ``state_dict``, ``.to(device)`` and checkpoints work as for every model.
    A unit whose field is zero (within a relative tolerance of 1e-6, so that
    rounding never decides) keeps its state.
    """

    def __init__(self, n_units: int):
        super().__init__()
        n_units = positive_int(n_units, "n_units", 2)
        self.n_units = n_units
        self.n_patterns = 0
        self.register_buffer("weight", torch.zeros(n_units, n_units))
        self.register_buffer("bias", torch.zeros(n_units))

    # -- weights --------------------------------------------------------------------
    @torch.no_grad()
    def store(self, patterns: torch.Tensor, rule: str = "hebb", append: bool = False) -> "HopfieldNetwork":
        """Store ±1 patterns, by default with the Hebb rule.

        .. math::

            W = \\frac1N \\sum_{\\mu=1}^{P} \\boldsymbol\\xi^\\mu \\boldsymbol\\xi^{\\mu\\top},
            \\qquad W_{ii} = 0

        Parameters
        ----------
        patterns : (P, N) or (N,) tensor of ±1
        rule : {"hebb", "projection"}
            "hebb" is the equation above. "projection" (the pseudo-inverse rule of
            Personnaz, Guyon & Dreyfus 1985) is :math:`W = \\Xi^\\top(\\Xi\\Xi^\\top)^{+}\\Xi`
            with the patterns as the rows of :math:`\\Xi`, diagonal zeroed: the
            orthogonal projection onto their span, which makes every linearly
            independent pattern a fixed point however correlated the patterns are.
            It is not local (each weight depends on all patterns), so it is not
            a learning rule a synapse could apply.
        append : bool
            Hebb rule only: add to the patterns already stored (the rule is a
            sum, so storing in several calls gives the same W) instead of
            replacing them.

        Returns
        -------
        self
        """
        if rule not in ("hebb", "projection"):
            raise ValueError(f"rule={rule!r}: use 'hebb' or 'projection'.")
        if append and rule != "hebb":
            raise ValueError("append=True only works with the Hebb rule, whose weights are a sum over patterns.")
        xi = check_spins(patterns, self.n_units, "HopfieldNetwork.store").to(self.weight)
        if rule == "hebb":
            new = xi.T @ xi / self.n_units
        else:
            x64 = xi.double()
            new = (x64.T @ torch.linalg.pinv(x64 @ x64.T) @ x64).to(xi)
            new = (new + new.T) / 2  # symmetric up to rounding; make it exact
        new.fill_diagonal_(0.0)
        if append:
            self.weight += new
            self.n_patterns += len(xi)
        else:
            self.weight.copy_(new)
            self.n_patterns = len(xi)
        return self

    @torch.no_grad()
    def set_weights(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> "HopfieldNetwork":
        """Use any symmetric ``weight`` (N, N) with a zero diagonal, and optionally a ``bias`` (N,).

        The symmetry and the zero diagonal are what make asynchronous updates
        descend the energy; other matrices are refused.
        """
        n = self.n_units
        weight = torch.as_tensor(weight)
        if weight.shape != (n, n):
            raise ValueError(f"weight must have shape ({n}, {n}), got {tuple(weight.shape)}.")
        require_finite(weight, "weight contains")
        if not torch.allclose(weight, weight.T):
            raise ValueError("weight must be symmetric (w_ij = w_ji): the energy argument needs it.")
        if weight.diagonal().abs().max() > 0:
            raise ValueError("weight must have a zero diagonal (no self-connections).")
        self.weight.copy_(weight)
        if bias is not None:
            bias = torch.as_tensor(bias)
            if bias.shape != (n,) or not torch.isfinite(bias).all():
                raise ValueError(f"bias must be a finite tensor of shape ({n},), got {tuple(bias.shape)}.")
            self.bias.copy_(bias)
        return self

    # -- the energy -----------------------------------------------------------------
    def local_field(self, s: torch.Tensor) -> torch.Tensor:
        """The field on every unit, :math:`h_i = \\sum_j W_{ij} s_j + \\theta_i`: (B, N) -> (B, N)."""
        s = check_spins(s, self.n_units, "HopfieldNetwork.local_field").to(self.weight)
        return s @ self.weight + self.bias

    def energy(self, s: torch.Tensor) -> torch.Tensor:
        """The energy of each state.

        .. math::

            E(\\mathbf s) = -\\tfrac12\\, \\mathbf s^\\top W \\mathbf s - \\boldsymbol\\theta^\\top \\mathbf s

        Parameters
        ----------
        s : (B, N) or (N,) tensor of ±1

        Returns
        -------
        (B,) tensor, or a scalar for a single state
        """
        s2 = check_spins(s, self.n_units, "HopfieldNetwork.energy").to(self.weight)
        single = s.ndim == 1
        e = -0.5 * ((s2 @ self.weight) * s2).sum(1) - s2 @ self.bias
        return e[0] if single else e

    def _tolerance(self) -> float:
        scale = self.weight.abs().sum(1).max() + self.bias.abs().max()
        return 1e-6 * max(float(scale), 1e-12)

    def _unstable(self, s: torch.Tensor, h: torch.Tensor, tol: float) -> torch.Tensor:
        # unit i would flip: its field opposes its state by more than the tie tolerance
        return (h * s) < -tol

    def is_fixed_point(self, s: torch.Tensor) -> torch.Tensor:
        """Whether every unit of each row agrees with the sign of its field: (B, N) -> (B,) bool."""
        s = check_spins(s, self.n_units, "HopfieldNetwork.is_fixed_point").to(self.weight)
        h = s @ self.weight + self.bias
        return ~self._unstable(s, h, self._tolerance()).any(1)

    # -- dynamics -------------------------------------------------------------------
    def _shifted_weight(self, tol: float) -> torch.Tensor:
        # A unit keeps its state when its field is zero (or rounding noise below tol): it
        # takes the sign of h_i + tol * s_i, and since W_ii = 0 that is one product with W + tol * I.
        return self.weight + tol * torch.eye(self.n_units, device=self.weight.device, dtype=self.weight.dtype)

    def _sync_step(self, x: torch.Tensor, w_eps: torch.Tensor) -> torch.Tensor:
        # every unit at once: s' = sign(W s + theta), ties keep the old state
        return torch.copysign(torch.ones_like(x), x @ w_eps + self.bias)

    def _async_sweep(self, x, w_eps, tol, generator, trace=None) -> torch.Tensor:
        # one unit at a time, in random order; x is (B, N), a new tensor is returned
        # a copy laid out (N, B), so that the states of unit i are the contiguous row xt[i]
        xt = x.T.clone(memory_format=torch.contiguous_format)
        units, rows, xb = xt.unbind(0), w_eps.unbind(0), xt.T
        theta = self.bias.tolist()
        has_bias = any(theta)
        one = torch.ones(len(x), device=x.device, dtype=x.dtype)
        for i in torch.randperm(self.n_units, generator=generator).tolist():
            h = torch.mv(xb, rows[i])  # h_i + tol * s_i, for every row of the batch
            if has_bias:
                h += theta[i]
            if trace is not None:
                # dE = -(s_i' - s_i) h_i: zero or negative, the descent argument
                trace.append(trace[-1] - (torch.copysign(one, h) - units[i]) * (h - tol * units[i]))
            torch.copysign(one, h, out=units[i])
        return xt.T.contiguous()

    @torch.no_grad()
    def update(
        self,
        s: torch.Tensor,
        mode: str = "async",
        steps: int = 1,
        generator: torch.Generator | None = None,
        return_energies: bool = False,
    ):
        """Run ``steps`` sweeps of the update rule :math:`s_i \\leftarrow \\operatorname{sign}(h_i)`.

        Parameters
        ----------
        s : (B, N) or (N,) tensor of ±1
            Not modified; a batch is B independent networks sharing the weights.
        mode : {"async", "sync"}
            "async": one unit at a time, in a fresh random order each sweep (the
            same order for every row of the batch), each unit seeing the states
            already updated in the sweep; a sweep is N such updates. "sync":
            every unit at once from the previous state; a sweep is one update.
        steps : int
            Number of sweeps.
        generator : torch.Generator, optional
            For the random orders (asynchronous mode).
        return_energies : bool
            Also return the energy of every row after every single-unit update
            (async: ``steps * N + 1`` rows) or every sweep (sync: ``steps + 1``).

        Returns
        -------
        states : tensor, same shape as ``s``
        energies : (T, B) tensor, only with ``return_energies``
        """
        if mode not in MODES:
            raise ValueError(f"mode={mode!r}: use 'async' or 'sync'.")
        if not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps must be a non-negative integer, got {steps!r}.")
        x = check_spins(s, self.n_units, "HopfieldNetwork.update").to(self.weight)
        single = s.ndim == 1
        tol = self._tolerance()
        w_eps = self._shifted_weight(tol)
        trace = [self.energy(x)] if return_energies else None
        for _ in range(steps):
            if mode == "sync":
                x = self._sync_step(x, w_eps)
                if trace is not None:
                    trace.append(self.energy(x))
            else:
                x = self._async_sweep(x, w_eps, tol, generator, trace)
        x = x.clone() if steps == 0 else x
        x = x[0] if single else x
        return x if trace is None else (x, torch.stack(trace))

    @torch.no_grad()
    def recall(
        self,
        s: torch.Tensor,
        mode: str = "async",
        max_sweeps: int = 100,
        generator: torch.Generator | None = None,
    ) -> RecallResult:
        """Update ``s`` until every row is a fixed point (or, synchronously, a 2-cycle).

        Parameters
        ----------
        s : (B, N) or (N,) tensor of ±1
            Start states, e.g. corrupted patterns.
        mode : {"async", "sync"}
            See :meth:`update`.
        max_sweeps : int
            Stop after this many sweeps even if some rows still move.
        generator : torch.Generator, optional

        Returns
        -------
        RecallResult
            States (B, N), ``converged`` per row, sweeps run, the energy after
            each sweep and, synchronously, which rows ended in a 2-cycle.
        """
        if mode not in MODES:
            raise ValueError(f"mode={mode!r}: use 'async' or 'sync'.")
        if not isinstance(max_sweeps, int) or max_sweeps < 0:
            raise ValueError(f"max_sweeps must be a non-negative integer, got {max_sweeps!r}.")
        x = check_spins(s, self.n_units, "HopfieldNetwork.recall").to(self.weight)
        tol = self._tolerance()
        w_eps = self._shifted_weight(tol)
        previous, energies, sweeps = None, [], 0
        cycle = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        while True:
            h = x @ self.weight + self.bias
            # E = -1/2 s.(W s) - theta.s, with W s = h - theta
            energies.append(-0.5 * (x * h).sum(1) - 0.5 * (x @ self.bias))
            fixed = ~self._unstable(x, h, tol).any(1)
            if mode == "sync" and previous is not None:
                cycle = ~fixed & (self._sync_step(x, w_eps) == previous).all(1)
            if sweeps == max_sweeps or bool((fixed | cycle).all()):
                break
            previous = x
            x = self._sync_step(x, w_eps) if mode == "sync" else self._async_sweep(x, w_eps, tol, generator)
            sweeps += 1
        return RecallResult(x, fixed, sweeps, torch.stack(energies), cycle)
