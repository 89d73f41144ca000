import pytest
import torch

from companion.corrupt import Corruption, as_corruption, gaussian_noise, masking_noise, salt_and_pepper


@pytest.fixture
def x():
    return torch.full((200, 500), 0.5)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.3, 0.7])
def test_masking_masks_the_stated_fraction(x, fraction):
    out = masking_noise(x, fraction, generator=torch.Generator().manual_seed(0))
    masked = (out == 0).float().mean().item()
    assert masked == pytest.approx(fraction, abs=0.01)
    assert torch.equal(out[out != 0], x[out != 0])  # the rest is untouched


@pytest.mark.parametrize("fraction", [0.05, 0.2, 0.5])
def test_salt_and_pepper_level(x, fraction):
    out = salt_and_pepper(x, fraction, generator=torch.Generator().manual_seed(1))
    salt = (out == 1).float().mean().item()
    pepper = (out == 0).float().mean().item()
    assert salt + pepper == pytest.approx(fraction, abs=0.01)
    assert salt == pytest.approx(pepper, abs=0.01)


@pytest.mark.parametrize("std", [0.1, 0.3])
def test_gaussian_noise_has_the_stated_std(x, std):
    out = gaussian_noise(x, std, clip=False, generator=torch.Generator().manual_seed(2))
    assert (out - x).std().item() == pytest.approx(std, rel=0.02)
    clipped = gaussian_noise(x, 2.0, generator=torch.Generator().manual_seed(2))
    assert clipped.min() >= 0 and clipped.max() <= 1


def test_input_is_never_modified(x):
    before = x.clone()
    for kind, level in [("gaussian", 0.5), ("masking", 0.5), ("salt_and_pepper", 0.5)]:
        Corruption(kind, level)(x)
    assert torch.equal(x, before)


def test_corruption_objects_and_errors():
    c = as_corruption(("masking", 0.25))
    assert c == Corruption("masking", 0.25) and str(c) == "masking (fraction 0.25)"
    assert as_corruption(c.as_config()) == c and as_corruption(None) is None
    with pytest.raises(ValueError, match="kind='blur'"):
        Corruption("blur", 0.1)
    with pytest.raises(ValueError, match=r"fraction in \[0, 1\]"):
        Corruption("masking", 1.5)
    with pytest.raises(ValueError, match="standard deviation >= 0"):
        Corruption("gaussian", -1)
    with pytest.raises(TypeError, match="give a Corruption"):
        as_corruption("masking")
