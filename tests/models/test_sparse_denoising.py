import pytest
import torch

import companion as cp
from companion.models import DenseAutoencoder
from companion.models.autoencoders import kl_bernoulli


def test_l1_penalty_is_the_equation():
    ae = DenseAutoencoder((6, 4), code_activation="relu", sparsity="l1", sparsity_weight=0.3)
    z = torch.tensor([[1.0, 0.0, 2.0, 0.5], [0.0, 0.0, 1.0, 0.0]])
    assert ae.sparsity_penalty(z).item() == pytest.approx(0.3 * (3.5 + 1.0) / 2)


def test_kl_penalty_is_the_equation():
    ae = DenseAutoencoder((6, 2), code_activation="sigmoid", sparsity="kl", sparsity_weight=2.0, target_rate=0.1)
    z = torch.tensor([[0.2, 0.5], [0.4, 0.1]])
    rho_hat = torch.tensor([0.3, 0.3])
    expected = 2.0 * (0.1 * torch.log(0.1 / rho_hat) + 0.9 * torch.log(0.9 / (1 - rho_hat))).sum()
    assert ae.sparsity_penalty(z).item() == pytest.approx(expected.item(), rel=1e-6)
    assert kl_bernoulli(0.1, torch.tensor(0.1)).item() == pytest.approx(0.0, abs=1e-7)


def test_loss_adds_the_penalty():
    torch.manual_seed(0)
    ae = DenseAutoencoder((6, 4), code_activation="relu", sparsity="l1", sparsity_weight=1.0)
    x = torch.rand(5, 6)
    loss, metrics = ae.loss(x)
    plain = torch.nn.functional.mse_loss(ae(x), x)
    assert loss.item() == pytest.approx(plain.item() + metrics["penalty"].item(), rel=1e-6)


def test_sparsity_makes_codes_sparser():
    X, _ = cp.data.digits()
    reports = {}
    for weight in (0.0, 0.05):
        cp.seed_everything(0)
        ae = DenseAutoencoder((64, 32), code_activation="relu", sparsity="l1", sparsity_weight=weight)
        cp.fit(ae, X, epochs=15, lr=3e-3, seed=0, progress=False)
        reports[weight] = ae.unit_activity(X)
    assert reports[0.05]["mean_active"] < 0.7 * reports[0.0]["mean_active"]
    assert reports[0.05]["frequency"].shape == (32,)


def test_unit_activity_counts_dead_and_always_on_units():
    ae = DenseAutoencoder((3, 3), code_activation="relu")
    with torch.no_grad():
        ae.encoder[0].weight.zero_()
        ae.encoder[0].bias.copy_(torch.tensor([-1.0, 1.0, 0.0]))
        ae.encoder[0].weight[2, 0] = 1.0  # unit 2 fires when x0 > 0
    X = torch.cat([torch.zeros(50, 3), torch.ones(50, 3)])
    report = ae.unit_activity(X)
    assert report["dead"] == 1 and report["always_on"] == 1
    assert report["frequency"].tolist() == [0.0, 1.0, 0.5]


def test_denoising_corrupts_inputs_only_in_training():
    torch.manual_seed(0)
    ae = DenseAutoencoder((20, 5), corruption=("masking", 0.9))
    x = torch.rand(8, 20)
    ae.eval()
    clean_loss = ae.loss(x)[0]
    assert torch.equal(clean_loss, ae.loss(x)[0])  # deterministic in eval mode
    ae.train()
    noisy = [ae.loss(x)[0].item() for _ in range(3)]
    assert len(set(noisy)) == 3  # a fresh corruption per call
    # the target is the clean input: reconstruction of a masked input is compared with x
    assert all(v != pytest.approx(clean_loss.item()) for v in noisy)


def test_sparsity_configuration_errors():
    with pytest.raises(ValueError, match="use code_activation='sigmoid'"):
        DenseAutoencoder((4, 2), sparsity="kl")
    with pytest.raises(ValueError, match="sparsity='l2'"):
        DenseAutoencoder((4, 2), sparsity="l2")
    with pytest.raises(ValueError, match="0 < target_rate < 1"):
        DenseAutoencoder((4, 2), code_activation="sigmoid", sparsity="kl", target_rate=1.0)
