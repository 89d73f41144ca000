import pytest
import torch
import torch.nn.functional as F

import companion as cp
from companion.models import DenseAutoencoder


def test_shapes_and_mirrored_decoder():
    ae = DenseAutoencoder((784, 128, 64, 12, 3))
    x = torch.rand(5, 784)
    assert ae.encode(x).shape == (5, 3)
    assert ae.decode(torch.zeros(5, 3)).shape == (5, 784)
    assert ae(x).shape == (5, 784)
    widths = [m.out_features for m in ae.decoder if isinstance(m, torch.nn.Linear)]
    assert widths == [12, 64, 128, 784]
    assert ae.code_size == 3 and ae.n_inputs == 784


@pytest.mark.parametrize("output, low, high", [("sigmoid", 0, 1), ("tanh", -1, 1)])
def test_output_ranges(output, low, high):
    ae = DenseAutoencoder((10, 4), output=output)
    out = ae.decode(torch.randn(100, 4) * 50)
    assert out.min() >= low and out.max() <= high


def test_mse_loss_is_the_equation():
    torch.manual_seed(0)
    ae = DenseAutoencoder((10, 6, 3))
    x = torch.rand(7, 10)
    loss, metrics = ae.loss(x)
    x_hat = ae(x)
    assert torch.allclose(loss, ((x - x_hat) ** 2).mean())
    assert torch.allclose(metrics["sse"], ((x - x_hat) ** 2).sum(1).mean())
    assert torch.allclose(ae.reconstruction_error(x), ((x - x_hat) ** 2).sum(1))


def test_bce_loss_is_stable_and_matches_the_equation():
    ae = DenseAutoencoder((10, 3), loss="bce")
    x = torch.rand(6, 10)
    loss, _ = ae.loss(x)
    assert torch.allclose(loss, F.binary_cross_entropy(ae(x), x), atol=1e-6)
    with torch.no_grad():  # saturate the output: a naive log(sigmoid) would give inf
        ae.decoder[-1].bias.fill_(-200.0)
    loss, _ = ae.loss(torch.ones(2, 10))
    assert torch.isfinite(loss) and loss > 100


def test_gradients_reach_every_parameter():
    ae = DenseAutoencoder((10, 6, 3))
    ae.loss(torch.rand(4, 10))[0].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in ae.parameters())


def test_linear_autoencoder_reaches_the_pca_error():
    """A linear AE trained on squared error learns the principal subspace (Bourlard & Kamp)."""
    g = torch.Generator().manual_seed(0)
    scales = torch.tensor([3.0, 2.5, 1.0, 0.8, 0.6, 0.4, 0.3, 0.2])
    rotation = torch.linalg.qr(torch.randn(8, 8, generator=g))[0]
    X = (torch.randn(1000, 8, generator=g) * scales) @ rotation + 1.0
    cp.seed_everything(0)
    ae = DenseAutoencoder((8, 2), activation="linear", output="linear")
    cp.fit(ae, X, epochs=100, batch_size=100, lr=1e-2, seed=0, progress=False)
    pca_err = cp.models.PCA(2).fit(X).reconstruction_error(X).mean()
    ae_err = ae.reconstruction_error(X).mean()
    assert ae_err >= pca_err * (1 - 1e-4)  # PCA is optimal: nothing linear does better
    assert ae_err == pytest.approx(pca_err.item(), rel=0.005)


def test_transform_and_reconstruct_preserve_train_mode():
    ae = DenseAutoencoder((10, 3))
    ae.train()
    X = torch.rand(5000, 10)
    assert ae.transform(X, batch_size=999).shape == (5000, 3)
    assert ae.reconstruct(X[:3]).shape == (3, 10)
    assert ae.training


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(dims=(784,)), "need at least an input and a code width"),
        (dict(dims=(784, 0)), "all positive"),
        (dict(dims=(4, 2), output="softmax"), "output='softmax'"),
        (dict(dims=(4, 2), loss="l1"), "loss='l1'"),
        (dict(dims=(4, 2), loss="bce", output="linear"), "needs output='sigmoid'"),
        (dict(dims=(4, 2), activation="swish"), "activation='swish'"),
    ],
)
def test_bad_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DenseAutoencoder(**kwargs)


def test_bad_batches():
    ae = DenseAutoencoder((784, 3))
    with pytest.raises(ValueError, match=r"shape \(n, 784\), got \(2, 1, 28, 28\); flatten images first"):
        ae.loss(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match="NaN or infinite"):
        ae.encode(torch.full((1, 784), float("nan")))
    # lists of lists are data (issue 14): converted once, same result as the tensor
    assert torch.equal(ae.encode([[0.0] * 784]), ae.encode(torch.zeros(1, 784)))
    bce = DenseAutoencoder((4, 2), loss="bce")
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\].*use loss='mse'"):
        bce.loss(torch.tensor([[0.0, 2.0, 0.5, 0.1]]))


def test_value_checks_can_be_skipped_but_shape_checks_cannot():
    from companion.models import check_batch

    check_batch(torch.tensor([[float("nan"), 2.0]]), 2, "x", unit_interval=True, values=False)
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        check_batch(torch.zeros(1, 2), 3, "x", values=False)
