import pytest
import torch

import companion as cp
from companion.models import layer_shapes
from companion.models.conv import ConvAutoencoder, SourceConvAutoencoder


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(channels=(16, 32), kernel_size=3, stride=2, padding=1),
        dict(channels=(8, 16, 16), kernel_size=3, stride=2, padding=1),  # 28 -> 14 -> 7 -> 4: needs output padding
        dict(channels=(4, 4, 1), kernel_size=5, stride=1, padding=0),     # the source's 16x16 latent image
        dict(channels=(6,), kernel_size=4, stride=3, padding=0),
    ],
)
@pytest.mark.parametrize("code_size", [None, 10])
def test_every_configuration_reconstructs_28x28_exactly(kwargs, code_size):
    ae = ConvAutoencoder(code_size=code_size, **kwargs)
    x = torch.rand(3, 1, 28, 28)
    assert ae(x).shape == (3, 1, 28, 28)
    z = ae.encode(x)
    assert z.shape == (3, *ae.code_shape)
    assert cp.models.code_numel(ae) == (code_size or z[0].numel())


def test_latent_image_of_the_source_architecture():
    ae = ConvAutoencoder(channels=(4, 4, 1), kernel_size=5, stride=1, padding=0, code_activation="relu")
    assert ae.code_shape == (1, 16, 16)
    assert ae.first_layer_filters().shape == (4, 1, 5, 5)


def test_odd_input_shapes_are_mirrored():
    ae = ConvAutoencoder(channels=(8, 8), input_shape=(3, 17, 23))
    assert ae(torch.rand(2, 3, 17, 23)).shape == (2, 3, 17, 23)


def test_source_network_reaches_28_only_by_its_paddings():
    shapes = [s for _, s in layer_shapes(SourceConvAutoencoder(), torch.zeros(1, 1, 28, 28))]
    assert shapes[6] == (1, 8, 2, 2)  # the code
    assert shapes[-1] == (1, 1, 28, 28)
    # one kernel changed by one and the output is no longer 28x28
    model = SourceConvAutoencoder()
    model.decoder[-1] = torch.nn.ConvTranspose2d(8, 1, 3, stride=2, padding=1)
    assert model.decode_logits(model.encoder(torch.zeros(1, 1, 28, 28))).shape[-1] == 29


def test_training_reduces_the_error():
    X, _ = cp.data.digits(flatten=False)
    cp.seed_everything(0)
    ae = ConvAutoencoder(channels=(8, 16), input_shape=(1, 8, 8), code_size=8)
    history = cp.fit(ae, X, epochs=6, lr=3e-3, seed=0, progress=False)
    assert history["sse"][-1] < 0.8 * history["sse"][0]


def test_checkpoint_round_trip(tmp_path):
    ae = ConvAutoencoder(channels=(8, 16, 16), code_size=5, corruption=("masking", 0.3))
    restored = cp.load(cp.save(ae, tmp_path / "c.pt"))
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(restored.eval()(x), ae.eval()(x))
    assert restored.corruption == ae.corruption


def test_errors():
    with pytest.raises(ValueError, match="shrinks the image"):
        ConvAutoencoder(channels=(4, 4, 4, 4), kernel_size=9, stride=1, padding=0)
    with pytest.raises(ValueError, match="give \\(channels, height, width\\)"):
        ConvAutoencoder(input_shape=(28, 28))
    with pytest.raises(ValueError, match=r"reshape flat images first, e.g. x.reshape\(len\(x\), 1, 28, 28\)"):
        ConvAutoencoder().loss(torch.rand(4, 784))
