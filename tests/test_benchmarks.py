"""The RBM benchmark's floors must do the same update as companion's RBM, or they would bound nothing."""

import importlib.util
from pathlib import Path

import torch

from companion.models import BernoulliRBM

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "rbm_cd.py"


def _rbm_cd():
    spec = importlib.util.spec_from_file_location("rbm_cd", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bare_cd_step_equals_companions_sgd_step():
    bench = _rbm_cd()
    device = torch.device("cpu")
    v0 = (torch.rand(bench.BATCH, 784, generator=torch.Generator().manual_seed(1)) < 0.3).float()

    rbm = BernoulliRBM(784, bench.N_HIDDEN)
    with torch.no_grad():
        rbm.b.uniform_(-1, 1)
        rbm.c.uniform_(-1, 1)
    opt = torch.optim.SGD(rbm.parameters(), lr=bench.LR)
    start = {k: v.detach().clone() for k, v in rbm.named_parameters()}

    results = []
    for fresh in (False, True):
        bare = bench._BareCD(device)
        bare.W.copy_(start["W"]), bare.b.copy_(start["b"]), bare.c.copy_(start["c"])
        torch.manual_seed(0)
        bare.step(v0, fresh=fresh)
        results.append((bare.W, bare.b, bare.c))
    torch.manual_seed(0)
    opt.zero_grad()
    rbm.loss(v0)[0].backward()
    opt.step()

    for W, b, c in results:
        assert not torch.equal(W, start["W"])  # an update happened
        torch.testing.assert_close(W, rbm.W.detach(), rtol=0, atol=1e-6)
        torch.testing.assert_close(b, rbm.b.detach(), rtol=0, atol=1e-6)
        torch.testing.assert_close(c, rbm.c.detach(), rtol=0, atol=1e-6)


def test_the_timed_batches_are_the_tensors_fit_cuts():
    bench = _rbm_cd()
    X = torch.rand(3 * bench.BATCH + 7, 784)
    batches = bench._batches(X, torch.Generator().manual_seed(0))
    assert all(isinstance(v, torch.Tensor) and v.shape[1] == 784 for v in batches)
    assert [len(v) for v in batches] == [bench.BATCH] * 3 + [7]
