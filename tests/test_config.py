import random

import numpy as np
import pytest
import torch

from companion import config


def test_profile_defaults_to_quick(monkeypatch):
    monkeypatch.delenv("COMPANION_PROFILE", raising=False)
    assert config.profile() == "quick"
    monkeypatch.setenv("COMPANION_PROFILE", "")
    assert config.profile() == "quick"


@pytest.mark.parametrize("value, expected", [("quick", "quick"), ("full", "full"), (" FULL ", "full")])
def test_profile_reads_the_variable(monkeypatch, value, expected):
    monkeypatch.setenv("COMPANION_PROFILE", value)
    assert config.profile() == expected


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COMPANION_PROFILE", "fast")
    with pytest.raises(config.ConfigError, match="'fast' is not a profile; use one of quick, full"):
        config.profile()


def test_choose_follows_the_profile(monkeypatch):
    monkeypatch.setenv("COMPANION_PROFILE", "quick")
    assert config.choose(quick=1, full=2) == 1
    monkeypatch.setenv("COMPANION_PROFILE", "full")
    assert config.choose(quick=1, full=2) == 2


def test_seed_everything_repeats_all_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3)

    config.seed_everything(123)
    a = draw()
    config.seed_everything(123)
    b = draw()
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    config.seed_everything(124)
    assert not torch.equal(draw()[2], a[2])


@pytest.mark.parametrize("bad", [1.5, "7", True, None])
def test_seed_must_be_an_integer(bad):
    with pytest.raises(config.ConfigError, match="seed must be an integer"):
        config.seed_everything(bad)


def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.get_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(config, "_mps_available", lambda: True)
    assert config.get_device("auto").type == "mps"
    monkeypatch.setattr(config, "_mps_available", lambda: False)
    assert config.get_device(None) == torch.device("cpu")
    assert config.get_device("AUTO") == torch.device("cpu")


def test_explicit_devices(monkeypatch):
    assert config.get_device("cpu") == torch.device("cpu")
    assert config.get_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(config.ConfigError, match="no usable CUDA GPU; use device='auto'"):
        config.get_device("cuda")
    monkeypatch.setattr(config, "_mps_available", lambda: False)
    with pytest.raises(config.ConfigError, match="MPS is not available"):
        config.get_device("mps")


def test_bad_device_names():
    with pytest.raises(config.ConfigError, match="not a device name"):
        config.get_device("gpu0")
    with pytest.raises(config.ConfigError, match="only cpu, cuda and mps"):
        config.get_device("meta")


def test_get_device_has_no_side_effects():
    before = torch.get_default_device() if hasattr(torch, "get_default_device") else None
    config.get_device("auto")
    after = torch.get_default_device() if hasattr(torch, "get_default_device") else None
    assert before == after


def test_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("COMPANION_DATA", str(tmp_path))
    assert config.data_root() == str(tmp_path)
    monkeypatch.delenv("COMPANION_DATA")
    assert config.data_root().endswith("/.cache/companion")
