"""The capacity theory (Amit, Gutfreund & Sompolinsky; signal to noise) and its measurement."""

import math

import pytest
import torch

from companion.models.hopfield_capacity import (
    _residual_peak,
    ags_overlap,
    capacity_curve,
    critical_load,
    crosstalk_error_probability,
)


def test_theory_values():
    assert critical_load() == pytest.approx(0.138, abs=1e-3)
    assert 0.96 < ags_overlap(critical_load()) < 0.972  # about 1.6% wrong bits at alpha_c
    assert math.isnan(ags_overlap(0.15))
    assert ags_overlap(0.05) > 0.9999
    p = crosstalk_error_probability(torch.tensor([0.0, 0.1, 1.0], dtype=torch.float64))
    assert p[0] == 0
    assert p[1].item() == pytest.approx(0.5 * math.erfc(math.sqrt(10) / math.sqrt(2)), rel=1e-9)
    assert p[2].item() == pytest.approx(0.158655, abs=1e-6)  # Phi(-1)


def test_capacity_curve_collapses_near_the_critical_load():
    g = torch.Generator().manual_seed(0)
    curve = capacity_curve(300, [0.05, 0.1, 0.2, 0.3], trials=2, generator=g)
    assert curve.recalled[0] == 1 and curve.recalled[1] > 0.95
    assert curve.recalled[3] < 0.2
    assert curve.bit_error[0] == 0 and curve.bit_error[3] > 0.1
    assert (curve.bit_error[1:] >= curve.bit_error[:-1]).all()
    assert 0.1 < curve.capacity() < 0.22
    # the one-step instability follows the signal-to-noise estimate
    theory = crosstalk_error_probability(curve.loads).float()
    assert torch.allclose(curve.unstable_bits, theory, atol=0.006)
    assert curve.n_patterns.tolist() == [15, 30, 60, 90]


def test_retrieval_overlap_solves_its_equation():
    # m = erf(y) with erf(y) = y (sqrt(2 alpha) + 2/sqrt(pi) exp(-y^2)), the largest root
    for alpha in (0.05, 0.1, 0.13, 0.137):  # m short of 1 in float64, so y can be recovered from it
        m = ags_overlap(alpha)
        y = _inverse_erf(m)
        assert math.erf(y) - y * (math.sqrt(2 * alpha) + 2 / math.sqrt(math.pi) * math.exp(-y * y)) == pytest.approx(
            0, abs=1e-9)
        # and no root lies beyond it: the residual is negative from there on
        for k in range(1, 50):
            z = y + 0.2 * k
            assert math.erf(z) - z * (math.sqrt(2 * alpha) + 2 / math.sqrt(math.pi) * math.exp(-z * z)) < 0


def test_the_critical_load_is_where_the_retrieval_state_disappears():
    alpha_c = critical_load()
    assert _residual_peak(alpha_c)[1] == pytest.approx(0, abs=1e-9)
    assert not math.isnan(ags_overlap(alpha_c - 1e-6))
    assert math.isnan(ags_overlap(alpha_c + 1e-6))


def test_negative_loads_are_refused():
    with pytest.raises(ValueError, match="cannot be negative"):
        ags_overlap(-0.1)
    with pytest.raises(ValueError, match="cannot be negative"):
        crosstalk_error_probability(-0.1)
    with pytest.raises(ValueError, match="trials"):
        capacity_curve(10, [0.1], trials=0)


def _inverse_erf(m, lo=0.0, hi=50.0):
    for _ in range(200):  # bisection, independent of the module under test
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if math.erf(mid) < m else (lo, mid)
    return 0.5 * (lo + hi)
