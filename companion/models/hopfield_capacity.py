"""The storage capacity of a Hopfield network: the theory and the measurement the course compares.

Theory: the signal-to-noise estimate of the one-step error probability, and the zero-temperature
retrieval solution of Amit, Gutfreund and Sompolinsky (1985), whose retrieval state disappears at the
load :math:`\\alpha_c \\approx 0.138`. Measurement: :func:`capacity_curve` stores random patterns at a
range of loads in a :class:`~companion.models.hopfield.HopfieldNetwork` and recalls them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from scipy.optimize import brentq, minimize_scalar

from .hopfield import HopfieldNetwork, flip


# -- capacity: theory -----------------------------------------------------------------
def crosstalk_error_probability(alpha) -> torch.Tensor:
    """The signal-to-noise estimate of the probability that a stored bit is unstable.

    With P random patterns in N units the field on bit i of pattern
    :math:`\\xi^\\mu` is :math:`\\xi^\\mu_i` (the signal) plus a sum of about
    :math:`NP` random ±1/N terms (the crosstalk), roughly Gaussian with variance
    :math:`P/N = \\alpha`. The bit flips when the crosstalk outweighs the signal:

    .. math::

        P_{\\mathrm{err}} = \\Phi\\!\\left(-\\sqrt{N/P}\\right) = \\Phi\\!\\left(-1/\\sqrt{\\alpha}\\right)

    with :math:`\\Phi` the standard normal distribution function. ``alpha``
    (a number or tensor) is the load P/N; alpha = 0 gives 0.
    """
    a = torch.as_tensor(alpha, dtype=torch.float64)
    if (a < 0).any():
        raise ValueError("the load alpha = P/N cannot be negative.")
    x = 1.0 / a.clamp_min(1e-300).sqrt()
    return 0.5 * torch.special.erfc(x / math.sqrt(2.0))


def _ags_residual(y: float, alpha: float) -> float:
    return math.erf(y) - y * (math.sqrt(2 * alpha) + 2 / math.sqrt(math.pi) * math.exp(-y * y))


def ags_overlap(alpha: float) -> float:
    """Overlap m of the retrieval state at zero temperature (Amit, Gutfreund & Sompolinsky 1985).

    The replica-symmetric theory reduces to one equation in
    :math:`y = m/\\sqrt{2\\alpha r}`,

    .. math::

        \\operatorname{erf}(y) = y\\left(\\sqrt{2\\alpha} + \\tfrac{2}{\\sqrt\\pi} e^{-y^2}\\right),
        \\qquad m = \\operatorname{erf}(y),

    whose largest root is the retrieval state. It exists only for
    :math:`\\alpha < \\alpha_c \\approx 0.138` (see :func:`critical_load`);
    beyond, this returns NaN. The fraction of wrong bits in the retrieval
    state is ``(1 - m) / 2``.
    """
    alpha = float(alpha)
    if alpha < 0:
        raise ValueError("the load alpha = P/N cannot be negative.")
    if alpha == 0:
        return 1.0
    y_peak, peak = _residual_peak(alpha)
    if peak <= 0:
        return float("nan")
    # the residual is negative for large y (the sqrt(2 alpha) y term wins), so one sign change lies beyond the peak
    hi = 1.0 / math.sqrt(2 * alpha) + 6.0
    return math.erf(brentq(_ags_residual, y_peak, hi, args=(alpha,), xtol=1e-14))


def _residual_peak(alpha: float) -> tuple[float, float]:
    """Where the residual of :func:`ags_overlap`'s equation is largest in y, and its value there.

    The residual starts at 0, dips below it for small y, rises to one hump and falls without bound; a
    retrieval state exists exactly when the hump reaches above zero.
    """
    hi = 1.0 / math.sqrt(2 * alpha) + 6.0
    best = minimize_scalar(lambda y: -_ags_residual(y, alpha), bounds=(0.5, hi), method="bounded",
                           options={"xatol": 1e-12})
    return float(best.x), -float(best.fun)


def critical_load(tol: float = 1e-10) -> float:
    """:math:`\\alpha_c \\approx 0.1379`: the largest load with a retrieval state (:func:`ags_overlap`).

    The hump of the residual (see :func:`_residual_peak`) shrinks as the load grows; :math:`\\alpha_c` is
    the load where its top touches zero.
    """
    return brentq(lambda alpha: _residual_peak(alpha)[1], 0.05, 0.2, xtol=tol)


# -- capacity: measurement --------------------------------------------------------------
@dataclass
class CapacityCurve:
    """What :func:`capacity_curve` measures, one value per load (means over patterns and trials).

    Attributes
    ----------
    n_units : int
    loads : (L,) tensor
        The loads :math:`\\alpha = P/N` actually used (P rounded to an integer).
    n_patterns : (L,) tensor
    unstable_bits : (L,) tensor
        Fraction of stored bits whose field has the wrong sign (one update
        would flip them): compare with :func:`crosstalk_error_probability`.
    bit_error : (L,) tensor
        Fraction of wrong bits after recall, :math:`(1 - m)/2`: compare with
        ``(1 - ags_overlap(alpha)) / 2``.
    recalled : (L,) tensor
        Fraction of patterns recalled, i.e. ending with overlap at least ``recall_overlap``.
    stable_patterns : (L,) tensor
        Fraction of patterns that are exact fixed points.
    recall_overlap : float
    flip_fraction : float
    """

    n_units: int
    loads: torch.Tensor
    n_patterns: torch.Tensor
    unstable_bits: torch.Tensor
    bit_error: torch.Tensor
    recalled: torch.Tensor
    stable_patterns: torch.Tensor
    recall_overlap: float
    flip_fraction: float

    def capacity(self, level: float = 0.5) -> float:
        """The load where ``recalled`` first falls below ``level``, linearly interpolated (NaN if never)."""
        r, a = self.recalled.tolist(), self.loads.tolist()
        for k in range(1, len(r)):
            if r[k - 1] >= level > r[k]:
                return a[k - 1] + (r[k - 1] - level) / (r[k - 1] - r[k]) * (a[k] - a[k - 1])
        return float("nan")


@torch.no_grad()
def capacity_curve(
    n_units: int,
    loads: Sequence[float],
    trials: int = 3,
    flip_fraction: float = 0.0,
    max_sweeps: int = 50,
    recall_overlap: float = 0.9,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
) -> CapacityCurve:
    """Measure how recall degrades with the load :math:`\\alpha = P/N` on random patterns.

    For every load and trial: store :math:`P = \\mathrm{round}(\\alpha N)`
    random ±1 patterns, flip ``flip_fraction`` of the bits of each, recall all
    of them at once asynchronously and compare the end states with the patterns.

    Parameters
    ----------
    n_units : int
    loads : sequence of float
        Loads to measure, e.g. ``torch.linspace(0.02, 0.25, 12)``.
    trials : int
        Independent sets of patterns per load.
    flip_fraction : float
        Corruption of the start states (0 starts at the patterns themselves).
    max_sweeps : int
    recall_overlap : float
        A pattern counts as recalled when the end state's overlap with it is
        at least this (0.9 means at most 5% wrong bits; at the critical load the
        theory's retrieval state has about 1.6%).
    generator : torch.Generator, optional
    device : device for the network

    Returns
    -------
    CapacityCurve
    """
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}.")
    net = HopfieldNetwork(n_units).to(device)
    rows = {k: [] for k in ("n", "alpha", "unstable", "error", "recalled", "stable")}
    for alpha in loads:
        alpha = float(alpha)
        p = max(1, int(round(alpha * n_units)))
        stats = torch.zeros(4, dtype=torch.float64)
        for _ in range(trials):
            xi = torch.randint(0, 2, (p, n_units), generator=generator).float().mul(2).sub(1).to(device)
            net.store(xi)
            unstable = net._unstable(xi, net.local_field(xi), net._tolerance())
            start = flip(xi, flip_fraction, generator)
            result = net.recall(start, max_sweeps=max_sweeps, generator=generator)
            m = (result.states * xi).mean(1)
            stats += torch.tensor([
                unstable.float().mean().item(),
                ((1 - m) / 2).mean().item(),
                (m >= recall_overlap).float().mean().item(),
                net.is_fixed_point(xi).float().mean().item(),
            ], dtype=torch.float64)
        stats /= trials
        for key, value in zip(("unstable", "error", "recalled", "stable"), stats.tolist()):
            rows[key].append(value)
        rows["n"].append(p)
        rows["alpha"].append(p / n_units)
    return CapacityCurve(
        n_units=n_units,
        loads=torch.tensor(rows["alpha"]),
        n_patterns=torch.tensor(rows["n"]),
        unstable_bits=torch.tensor(rows["unstable"]),
        bit_error=torch.tensor(rows["error"]),
        recalled=torch.tensor(rows["recalled"]),
        stable_patterns=torch.tensor(rows["stable"]),
        recall_overlap=recall_overlap,
        flip_fraction=flip_fraction,
    )
