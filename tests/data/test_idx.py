import gzip

import numpy as np
import pytest

from companion.data import IdxFormatError, read_idx, write_idx


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip_every_type(tmp_path, dtype, suffix):
    rng = np.random.default_rng(0)
    array = (rng.normal(size=(3, 4, 5)) * 50).astype(np.dtype(dtype).newbyteorder("="))
    path = write_idx(tmp_path / f"a-idx3{suffix}", array)
    back = read_idx(path)
    assert back.shape == (3, 4, 5) and back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


def test_reads_a_hand_written_file(tmp_path):
    # magic 0x00000801 (ubyte, 1 dim), size 3, values 7 8 9: the layout of an MNIST label file
    raw = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9])
    (tmp_path / "labels").write_bytes(raw)
    np.testing.assert_array_equal(read_idx(tmp_path / "labels"), [7, 8, 9])
    (tmp_path / "labels.gz").write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(read_idx(tmp_path / "labels.gz"), [7, 8, 9])


def test_truncated_file_is_a_clear_error(tmp_path):
    raw = bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3])  # 2x2 announced, 3 values
    (tmp_path / "t").write_bytes(raw)
    with pytest.raises(IdxFormatError, match="truncated or corrupt"):
        read_idx(tmp_path / "t")


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"\x1f\x8b\x08\x00", "not an idx file"),
        (bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 5]), "unknown idx type code 0x42"),
        (bytes([0, 0, 8, 3, 0, 0]), "truncated"),
    ],
)
def test_malformed_headers(tmp_path, raw, message):
    (tmp_path / "bad").write_bytes(raw)
    with pytest.raises(IdxFormatError, match=message):
        read_idx(tmp_path / "bad")


def test_missing_file(tmp_path):
    with pytest.raises(IdxFormatError, match="cannot read"):
        read_idx(tmp_path / "nope")


def test_write_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "x-idx1"
    write_idx(target, np.arange(3, dtype=np.uint8))
    before = target.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_idx(target, np.arange(5, dtype=np.uint8))
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x-idx1"]


def test_unsupported_dtype(tmp_path):
    with pytest.raises(IdxFormatError, match="cannot store"):
        write_idx(tmp_path / "c", np.array([1 + 2j]))
