import pytest
import torch

import companion as cp
from companion.checkpoint import CheckpointError, load, save


def test_round_trip(tmp_path):
    cp.seed_everything(0)
    model = cp.models.DenseAutoencoder((64, 16, 4), activation="tanh", loss="bce")
    path = save(model, tmp_path / "sub" / "m.pt")
    restored = load(path)
    assert type(restored) is cp.models.DenseAutoencoder and restored.config == model.config
    x = torch.rand(5, 64)
    assert torch.equal(restored(x), model(x))
    assert [p.name for p in path.parent.iterdir()] == ["m.pt"]  # no temporary left behind


def test_load_into_an_existing_model(tmp_path):
    model = cp.models.DenseAutoencoder((64, 16, 4))
    save(model, tmp_path / "m.pt")
    other = cp.models.DenseAutoencoder((64, 16, 4))
    load(tmp_path / "m.pt", model=other)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values()))


def test_mismatched_architecture_is_a_clear_error_and_leaves_the_model_alone(tmp_path):
    save(cp.models.DenseAutoencoder((64, 16, 4)), tmp_path / "m.pt")
    target = cp.models.DenseAutoencoder((64, 32, 4))
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"holds DenseAutoencoder\(dims=\[64, 16, 4\].*but the model is DenseAutoencoder\(dims=\[64, 32, 4\]"):
        load(tmp_path / "m.pt", model=target)
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())


def test_tampered_state_dict_is_detected(tmp_path):
    path = save(cp.models.DenseAutoencoder((64, 16, 4)), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["encoder.0.weight"] = torch.zeros(3, 3)
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="shape mismatch \\['encoder.0.weight'\\]"):
        load(path)


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = save(cp.models.DenseAutoencoder((64, 16, 4)), tmp_path / "m.pt")
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        save(cp.models.DenseAutoencoder((64, 8, 4)), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_unreadable_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not written by companion.save"):
        load(tmp_path / "plain.pt")
    torch.save({"format": "companion-checkpoint", "version": 1, "class": "os:system", "config": {}, "state_dict": {}},
               tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="not part of companion"):
        load(tmp_path / "evil.pt")


def test_models_without_config_cannot_be_saved(tmp_path):
    with pytest.raises(CheckpointError, match="no `config` dict"):
        save(torch.nn.Linear(2, 2), tmp_path / "x.pt")


def test_pca_round_trip(tmp_path):
    X, _ = cp.data.digits()
    pca = cp.models.PCA(4).fit(X)
    restored = load(save(pca, tmp_path / "pca.pt"))
    assert torch.equal(restored.encode(X[:3]), pca.encode(X[:3]))
    # into a model of the same config: a model without parameters is where its buffers are
    into = load(tmp_path / "pca.pt", model=cp.models.PCA(4))
    assert torch.equal(into.encode(X[:3]), pca.encode(X[:3]))
    net = cp.models.HopfieldNetwork(6)
    assert load(save(net, tmp_path / "hop.pt"), model=cp.models.HopfieldNetwork(6)).n_units == 6


def test_configs_are_plain_data_and_a_stored_tuple_matches_the_list_it_reads_back_as(tmp_path):
    # checkpoints written when configs were hand-kept dicts hold input_shape as a list
    assert cp.models.ConvAutoencoder().config["input_shape"] == [1, 28, 28]
    assert cp.models.VAE(conv=True, dims=(784, 64)).config["input_shape"] == [1, 28, 28]
    # one that stored a tuple (a MatrixFactorization's clip) still loads into the same model
    mf = cp.models.MatrixFactorization(5, 4, 2, clip=(1.0, 5.0))
    assert mf.config["clip"] == [1.0, 5.0]
    payload = {"format": "companion-checkpoint", "version": 1, "class": "companion.models.cf:MatrixFactorization",
               "config": {**mf.config, "clip": (1.0, 5.0)}, "state_dict": mf.state_dict()}
    torch.save(payload, tmp_path / "mf.pt")
    into = cp.models.MatrixFactorization(5, 4, 2, clip=[1.0, 5.0])
    assert load(tmp_path / "mf.pt", model=into) is into
    with pytest.raises(CheckpointError, match="build the model with the checkpoint's config"):
        load(tmp_path / "mf.pt", model=cp.models.MatrixFactorization(5, 4, 2, clip=(1.0, 4.0)))


def _crafted(path, cls, config=None):
    torch.save({"format": "companion-checkpoint", "version": 1, "class": cls, "config": config or {},
                "state_dict": {}}, path)
    return path


@pytest.mark.parametrize("cls, config", [
    ("companion.data.movielens:subprocess.run", {"args": ["touch", "PWNED"]}),
    ("companion.utils:write_atomic", {"target": "PWNED", "payload": b"x"}),
    ("companion.checkpoint:os.system", {"command": "touch PWNED"}),
    ("companion.models.rbm:torch.save", {}),
    ("companion.models.dbm:_DoubledRBM", {"n_visible": 2, "n_hidden": 2}),
    (["not", "a", "name"], {}),
])
def test_crafted_class_names_are_refused_before_anything_is_called(tmp_path, monkeypatch, cls, config):
    import subprocess

    import companion.utils

    called = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: called.append(a))
    monkeypatch.setattr(companion.utils, "write_atomic", lambda *a, **k: called.append(a))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError, match="only companion's models"):
        load(_crafted(tmp_path / "evil.pt", cls, config))
    assert called == [] and not (tmp_path / "PWNED").exists()


def test_registry_holds_exactly_the_saveable_models(tmp_path):
    names = {cls.__name__ for cls in cp.checkpoint.registry().values()}
    assert {"BernoulliRBM", "DBN", "DBM", "VAE", "DenseAutoencoder", "PCA", "SoftmaxRBM"} <= names
    assert "Classifier" not in names

    class Mine(cp.models.BernoulliRBM):
        pass

    with pytest.raises(CheckpointError, match="not one of companion's model classes"):
        save(Mine(4, 2), tmp_path / "mine.pt")
    assert not (tmp_path / "mine.pt").exists()


def test_load_validates_the_device_and_save_refuses_a_directory(tmp_path):
    path = save(cp.models.BernoulliRBM(4, 2), tmp_path / "m.pt")
    with pytest.raises(cp.config.ConfigError, match="not a device name"):
        load(path, device="gpu0")
    with pytest.raises(cp.config.ConfigError, match="no usable CUDA"):
        load(path, device="cuda") if not torch.cuda.is_available() else pytest.skip("has CUDA")
    (tmp_path / "dir").mkdir()
    with pytest.raises(CheckpointError, match="is a directory; give a file name"):
        save(cp.models.BernoulliRBM(4, 2), tmp_path / "dir")


def test_a_config_the_class_rejects_is_a_checkpoint_error(tmp_path):
    path = _crafted(tmp_path / "bad.pt", "companion.models.rbm:BernoulliRBM", {"n_visible": -3, "n_hidden": 2})
    with pytest.raises(CheckpointError, match="rejects"):
        load(path)
    path = _crafted(tmp_path / "bad2.pt", "companion.models.rbm:BernoulliRBM", {"n_visible": 3, "bogus": 1})
    with pytest.raises(CheckpointError, match="rejects"):
        load(path)
