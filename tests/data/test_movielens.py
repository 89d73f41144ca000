"""MovieLens loaders: official layouts, folds, the recbole-wheel default, downloads and errors.

Every file is written by the tests themselves; nothing touches the network.
"""

import hashlib
import importlib
import io
import re
import shutil
import subprocess
import sys
import urllib.error
import zipfile

import numpy as np
import pandas as pd
import pytest

from companion.data import (
    GENRES,
    VERSIONS,
    DataNotFoundError,
    MovieLensFormatError,
    movielens,
    movielens_folds,
    movielens_items,
    movielens_source,
)

from tests.data.test_mnist import _serve  # the fake urlopen the MNIST download tests use

ml = importlib.import_module("companion.data.movielens")
fetch = importlib.import_module("companion.data._fetch")

# 30 ratings, 6 users, 8 items, deliberately not sorted so that file order is visible
RATINGS = [
    (u, i, 1 + (u * 7 + i * 3) % 5, 880000000 + 37 * k)
    for k, (u, i) in enumerate((u, i) for u in (4, 1, 6, 2, 5, 3) for i in (3, 8, 1, 5, 2))
]
U_ITEM = [  # id|title|release date|video release date|IMDb URL|19 flags (unknown first)
    "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0",
    "2|Café au lait (1995)|01-Jan-1995||http://x|0|0|0|0|0|1|0|0|0|0|0|0|0|0|1|0|0|0|0",
    "3|Nameless Film|12-Mar-1987||http://x|0|1|0|0|0|0|0|0|1|0|0|0|0|0|0|0|1|0|1",
    "4|unknown||||1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0",
    "5|Seven (Se7en) (1995)|22-Sep-1995||http://x|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|1|0|0",
]


def write_ml100k(directory, ratings=RATINGS, items=U_ITEM):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "u.data").write_text("".join("\t".join(map(str, r)) + "\n" for r in ratings))
    (directory / "u.item").write_bytes(("\n".join(items) + "\n").encode("latin-1"))
    return directory


def frame(rows):
    return pd.DataFrame(np.array(rows, dtype=np.int64).reshape(-1, 4), columns=list(ml.COLUMNS))


def rows_of(df):
    return sorted(map(tuple, df[list(ml.COLUMNS)].to_numpy().tolist()))


def test_ml100k_files_are_parsed_in_file_order(tmp_path, capsys):
    write_ml100k(tmp_path)
    ratings = movielens(root=tmp_path)
    assert list(ratings.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert (ratings.dtypes == np.int64).all()
    assert ratings.values.tolist() == [list(r) for r in RATINGS]
    assert list(ratings.index) == list(range(len(RATINGS)))
    assert f"MovieLens 100k: ratings from {tmp_path} -> 30 ratings, 6 users, 5 items" in capsys.readouterr().out
    # the ml-100k subfolder of root works too
    write_ml100k(tmp_path / "outer" / "ml-100k")
    assert movielens(root=tmp_path / "outer", verbose=False).equals(ratings)


def test_u_item_titles_years_and_genres(tmp_path):
    write_ml100k(tmp_path)
    items = movielens_items(root=tmp_path)
    assert list(items.columns) == ["item_id", "title", "year", *GENRES["100k"]]
    assert len(GENRES["100k"]) == 19 and GENRES["100k"][0] == "unknown" and GENRES["1m"] == GENRES["100k"][1:]
    assert items["item_id"].dtype == np.int64 and str(items["year"].dtype) == "Int64"
    assert all(items[g].dtype == np.uint8 for g in GENRES["100k"])
    assert items["title"].tolist() == ["Toy Story", "Café au lait", "Nameless Film", "unknown", "Seven (Se7en)"]
    # from the title; from the release date when the title has none; <NA> when neither has one
    assert items["year"].tolist()[:3] == [1995, 1995, 1987] and items["year"].isna().tolist()[3]
    assert items.loc[0, ["Animation", "Children's", "Comedy"]].tolist() == [1, 1, 1]
    assert items.loc[0, list(GENRES["100k"])].sum() == 3
    assert items.loc[2, ["Action", "Drama", "Thriller", "Western"]].tolist() == [1, 1, 1, 1]
    assert items.loc[3, "unknown"] == 1 and items.loc[3, list(GENRES["100k"])].sum() == 1


def test_ml1m_files_with_double_colons_and_latin1(tmp_path):
    rows = [(1, 1193, 5, 978300760), (1, 661, 3, 978302109), (2, 1357, 5, 978298709)]
    (tmp_path / "ml-1m").mkdir()
    (tmp_path / "ml-1m" / "ratings.dat").write_text("".join("::".join(map(str, r)) + "\n" for r in rows))
    movies = [
        "1::Toy Story (1995)::Animation|Children's|Comedy",
        "2::Café Society (1995)::Drama|Film-Noir",
        "3::Untitled::",
    ]
    (tmp_path / "ml-1m" / "movies.dat").write_bytes(("\n".join(movies) + "\n").encode("latin-1"))
    ratings = movielens("1m", root=tmp_path, verbose=False)
    assert ratings.values.tolist() == [list(r) for r in rows] and (ratings.dtypes == np.int64).all()
    items = movielens_items("1m", root=tmp_path)
    assert list(items.columns) == ["item_id", "title", "year", *GENRES["1m"]]
    assert items["title"].tolist() == ["Toy Story", "Café Society", "Untitled"]
    assert items["year"].tolist()[:2] == [1995, 1995] and items["year"].isna().tolist() == [False, False, True]
    assert items.loc[1, ["Drama", "Film-Noir"]].tolist() == [1, 1] and items.loc[1, list(GENRES["1m"])].sum() == 2
    assert items.loc[2, list(GENRES["1m"])].sum() == 0


def test_callers_get_copies(tmp_path):
    write_ml100k(tmp_path)
    first = movielens(root=tmp_path, verbose=False)
    first.loc[0, "rating"] = 99
    assert movielens(root=tmp_path, verbose=False).loc[0, "rating"] == RATINGS[0][2]
    items = movielens_items(root=tmp_path)
    items.loc[0, "title"] = "changed"
    assert movielens_items(root=tmp_path).loc[0, "title"] == "Toy Story"
    train, test = movielens_folds(root=tmp_path, verbose=False)[0]
    test.loc[0, "rating"] = 99
    assert movielens_folds(root=tmp_path, verbose=False)[0][1].loc[0, "rating"] != 99


def test_data_root_layouts_are_found(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_DATA", str(tmp_path))
    write_ml100k(tmp_path / "ml-100k")
    assert movielens_source().kind == "files"
    assert movielens_source().location == str(tmp_path / "ml-100k")
    write_ml100k(tmp_path / "movielens" / "ml-100k")
    assert movielens_source().location == str(tmp_path / "movielens" / "ml-100k")
    assert len(movielens(verbose=False)) == len(RATINGS)


# --- folds ---------------------------------------------------------------------------------


def check_partition(folds, ratings):
    everything = rows_of(ratings)
    tests = []
    for train, test in folds:
        assert list(train.index) == list(range(len(train))) and list(test.index) == list(range(len(test)))
        assert not set(rows_of(train)) & set(rows_of(test))
        assert sorted(rows_of(train) + rows_of(test)) == everything
        tests += rows_of(test)
    assert sorted(tests) == everything  # disjoint tests whose union is every rating


def mku_expected(ratings, n_folds):
    """The mku.sh rule, written out: fold i tests the i-th block of rows in file order."""
    n, out = len(ratings), []
    for i in range(n_folds):
        lo, hi = i * n // n_folds, (i + 1) * n // n_folds
        test = sorted(ratings[lo:hi], key=lambda r: (r[0], r[1]))
        train = sorted(ratings[:lo] + ratings[hi:], key=lambda r: (r[0], r[1]))
        out.append((train, test))
    return out


@pytest.mark.parametrize("n_folds", [5, 4, 2])
def test_derived_ml100k_folds_follow_mku_sh(tmp_path, capsys, n_folds):
    write_ml100k(tmp_path)
    folds = movielens_folds(root=tmp_path, n_folds=n_folds)
    assert len(folds) == n_folds
    check_partition(folds, frame(RATINGS))
    for (train, test), (want_train, want_test) in zip(folds, mku_expected(RATINGS, n_folds)):
        assert test.values.tolist() == [list(r) for r in want_test]
        assert train.values.tolist() == [list(r) for r in want_train]
        assert (test.dtypes == np.int64).all()
    out = capsys.readouterr().out
    assert "derived by the rule of GroupLens' mku.sh" in out
    again = movielens_folds(root=tmp_path, n_folds=n_folds, verbose=False)
    assert all(a.equals(c) and b.equals(d) for (a, b), (c, d) in zip(folds, again))


@pytest.mark.skipif(shutil.which("sh") is None or shutil.which("sort") is None, reason="needs sh, head, tail, sort")
def test_derived_folds_equal_what_the_mku_sh_commands_write(tmp_path):
    """Run the head/tail/sort commands of GroupLens' mku.sh on u.data, then compare."""
    write_ml100k(tmp_path)
    script = (
        'by_user_item() { sort -t "$TAB" -k 1,1n -k 2,2n; }; '
        "for i in 1 2 3 4 5; do "
        "head -n $((i * 6)) u.data | tail -n 6 | by_user_item > u$i.test; "
        "{ head -n $(((i - 1) * 6)) u.data; tail -n $(((5 - i) * 6)) u.data; } | by_user_item > u$i.base; "
        "done"
    )
    # 30 ratings in 5 folds: blocks of 6 where mku.sh has 20,000; 'tail -n 0' prints nothing, as wanted
    subprocess.run(["sh", "-c", script], cwd=tmp_path, check=True, env={"TAB": "\t", "PATH": "/usr/bin:/bin"})
    official = movielens_folds(root=tmp_path, verbose=False)
    for name in [f"u{i}.{part}" for i in range(1, 6) for part in ("base", "test")]:
        (tmp_path / name).unlink()
    derived = movielens_folds(root=tmp_path, verbose=False)
    assert all(a.equals(c) and b.equals(d) for (a, b), (c, d) in zip(official, derived))


def test_official_fold_files_are_read_when_present(tmp_path, capsys):
    write_ml100k(tmp_path)
    # a partition unlike mku.sh's (every fifth row), so that reading the files is what is tested
    for i in range(5):
        test = [r for k, r in enumerate(RATINGS) if k % 5 == i]
        train = [r for k, r in enumerate(RATINGS) if k % 5 != i]
        for name, rows in ((f"u{i + 1}.test", test), (f"u{i + 1}.base", train)):
            (tmp_path / name).write_text("".join("\t".join(map(str, r)) + "\n" for r in rows))
    folds = movielens_folds(root=tmp_path)
    assert "the official u1.base/u1.test ... u5.base/u5.test" in capsys.readouterr().out
    for i, (train, test) in enumerate(folds):
        assert test.values.tolist() == [list(r) for k, r in enumerate(RATINGS) if k % 5 == i]
    check_partition(folds, frame(RATINGS))
    # another fold count cannot come from the five files: derived instead
    assert [len(t) for _, t in movielens_folds(root=tmp_path, n_folds=3, verbose=False)] == [10, 10, 10]
    # fold files that do not add up to u.data are refused
    (tmp_path / "u3.test").write_text("1\t1\t1\t1\n")
    with pytest.raises(MovieLensFormatError, match="u3.base and u3.test hold .* do not belong to this u.data"):
        movielens_folds(root=tmp_path, verbose=False)


def test_ml1m_folds_are_a_seeded_permutation(tmp_path, capsys):
    rng = np.random.default_rng(5)
    pairs = [(u, i) for u in range(1, 9) for i in range(1, 7)]
    rows = [(u, i, int(rng.integers(1, 6)), 970000000 + k) for k, (u, i) in enumerate(pairs)]
    (tmp_path / "ratings.dat").write_text("".join("::".join(map(str, r)) + "\n" for r in rows))
    folds = movielens_folds("1m", root=tmp_path, n_folds=5)
    assert [len(test) for _, test in folds] == [9, 10, 9, 10, 10]  # 48 ratings: bounds 0, 9, 19, 28, 38, 48
    check_partition(folds, frame(rows))
    order = np.random.default_rng(0).permutation(len(rows))
    want = sorted((rows[k] for k in order[:9]), key=lambda r: (r[0], r[1]))
    assert folds[0][1].values.tolist() == [list(r) for r in want]
    assert "a permutation (numpy default_rng(0))" in capsys.readouterr().out
    again = movielens_folds("1m", root=tmp_path, n_folds=5, verbose=False)
    assert all(a.equals(c) and b.equals(d) for (a, b), (c, d) in zip(folds, again))


@pytest.mark.parametrize("n_folds", [1, 0, 2.5, True, "5"])
def test_bad_fold_count(tmp_path, n_folds):
    write_ml100k(tmp_path)
    with pytest.raises(ValueError, match=r"n_folds=.*: use an integer >= 2"):
        movielens_folds(root=tmp_path, n_folds=n_folds)


def test_more_folds_than_ratings(tmp_path):
    write_ml100k(tmp_path, ratings=RATINGS[:3])
    with pytest.raises(ValueError, match="n_folds=4 exceeds the 3 ratings"):
        movielens_folds(root=tmp_path, n_folds=4, verbose=False)


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("loader", [movielens, movielens_items, movielens_folds, movielens_source])
def test_bad_version(loader):
    with pytest.raises(ValueError, match=r"version='10m' is not a MovieLens version; use one of '100k', '1m'"):
        loader("10m")
    assert VERSIONS == ("100k", "1m")


def test_root_without_ratings(tmp_path):
    (tmp_path / "u.item").write_text("")
    with pytest.raises(DataNotFoundError, match=r"holds no MovieLens 100k ratings: expected u.data and u.item"):
        movielens(root=tmp_path)
    with pytest.raises(DataNotFoundError, match=r"expected ratings.dat and movies.dat .* ml-1m subfolder"):
        movielens("1m", root=tmp_path)


def test_missing_items_file(tmp_path):
    write_ml100k(tmp_path)
    (tmp_path / "u.item").unlink()
    assert len(movielens(root=tmp_path, verbose=False)) == 30
    with pytest.raises(DataNotFoundError, match=r"u.item is missing"):
        movielens_items(root=tmp_path)


@pytest.mark.parametrize(
    "line, message",
    [
        ("1\t2\t3", r"line 3: expected 4 fields \(user item rating timestamp\) separated by '\\t', found 3"),
        ("1\t2\t3\t4\t5", r"line 3: expected 4 fields .* found 5"),
        ("1\t2\t7\t880000000", r"line 3: rating '7' is not an integer from 1 to 5"),
        ("1\t2\t3.5\t880000000", r"line 3: rating '3.5' is not an integer from 1 to 5"),
        ("x1\t2\t3\t880000000", r"line 3: user id 'x1' is not a positive integer"),
        ("1\t0\t3\t880000000", r"line 3: item id '0' is not a positive integer"),
        ("1\t2\t3\tsoon", r"line 3: timestamp 'soon' is not a non-negative integer"),
    ],
)
def test_malformed_u_data_names_file_and_line(tmp_path, line, message):
    good = "\t".join(map(str, RATINGS[0]))
    (tmp_path / "u.data").write_text(f"{good}\n{good}\n{line}\n{good}\n")
    with pytest.raises(MovieLensFormatError, match=message) as info:
        movielens(root=tmp_path, verbose=False)
    assert str(tmp_path / "u.data") in str(info.value)


def test_malformed_ml1m_and_item_files(tmp_path):
    (tmp_path / "ratings.dat").write_text("1::2::3::4\n1::2::0::4\n")
    with pytest.raises(MovieLensFormatError, match=r"ratings.dat, line 2: rating '0' is not an integer from 1 to 5"):
        movielens("1m", root=tmp_path, verbose=False)
    (tmp_path / "ratings.dat").write_text("1::2::3::4\n")
    (tmp_path / "movies.dat").write_text("1::A (1990)::Drama\n2::B (1991)::Drama|Noir\n")
    with pytest.raises(MovieLensFormatError, match=r"movies.dat, line 2: genre 'Noir' is none of Action"):
        movielens_items("1m", root=tmp_path)
    (tmp_path / "movies.dat").write_text("1::A (1990)::Drama\n1::B (1991)::Drama\n")
    with pytest.raises(MovieLensFormatError, match=r"line 2: movie id 1 appears again \(first on line 1\)"):
        movielens_items("1m", root=tmp_path)
    write_ml100k(tmp_path / "k", items=U_ITEM[:2] + ["3|Short|01-Jan-1990||http://x|0|1"])
    with pytest.raises(MovieLensFormatError, match=r"u.item, line 3: expected 24 fields \(id\|title"):
        movielens_items(root=tmp_path / "k")
    write_ml100k(tmp_path / "k", items=[U_ITEM[0].replace("|1|1|1|", "|1|2|1|")])
    with pytest.raises(MovieLensFormatError, match=r"u.item, line 1: genre flags must be 0 or 1"):
        movielens_items(root=tmp_path / "k")


def test_empty_ratings_file(tmp_path):
    (tmp_path / "u.data").write_text("\n")
    with pytest.raises(MovieLensFormatError, match="holds no ratings"):
        movielens(root=tmp_path, verbose=False)


# --- the recbole wheel (offline default for ml-100k) ---------------------------------------

INTER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + "".join(
    "\t".join(map(str, r)) + "\n" for r in RATINGS
)
ITEM = (
    "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
    "1\tToy Story\t1995\tAnimation Children's Comedy\n"
    "2\tMetisse (Café au Lait)\t1993\tComedy\n"
    "3\tLand Before Time III (1995)\tV\tAnimation Children's\n"
    "4\tunkonwn\tunkonwn\tunknown\n"
    "5\tNo Genre At All\t1990\t\n"
)


def fake_wheel(inter=INTER, item=ITEM):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("recbole/__init__.py", "raise ImportError('recbole must never be imported')\n")
        zf.writestr(ml._WHEEL_RATINGS, inter.encode("utf-8"))
        zf.writestr(ml._WHEEL_ITEMS, item.encode("utf-8"))
    return buffer.getvalue()


@pytest.fixture
def pip(monkeypatch):
    """A pip that 'downloads' the fake wheel (verified by its own SHA-256); records its calls."""
    payload = fake_wheel()
    monkeypatch.setattr(ml, "_WHEEL_SHA256", hashlib.sha256(payload).hexdigest())
    calls = []

    def download(requirement, directory):
        assert requirement == "recbole==1.2.1"
        calls.append(directory)
        (directory / ml.RECBOLE_WHEEL).write_bytes(download.payload)
        return subprocess.CompletedProcess(["pip"], 0, "Saved recbole", "")

    download.payload = payload
    download.calls = calls
    monkeypatch.setattr(fetch, "pip_download", download)
    monkeypatch.setitem(sys.modules, "recbole", None)  # any import of recbole now fails
    return download


def test_recbole_wheel_is_fetched_once_and_read(tmp_path, pip, capsys):
    source = movielens_source()
    assert source.kind == "recbole-wheel" and "not yet fetched" in source.detail
    ratings = movielens()
    assert ratings.values.tolist() == [list(r) for r in RATINGS] and (ratings.dtypes == np.int64).all()
    wheel = tmp_path / "data-root" / "pip" / ml.RECBOLE_WHEEL
    assert wheel.read_bytes() == pip.payload and len(pip.calls) == 1
    out = capsys.readouterr().out
    assert f"MovieLens 100k: ratings from the recbole 1.2.1 wheel ({wheel}) (fetched from PyPI with pip)" in out
    assert "-> 30 ratings, 6 users, 5 items" in out
    assert list(wheel.parent.iterdir()) == [wheel]  # the staging folder is gone
    # cached now: no second pip call, and the source says so
    assert movielens(verbose=False).equals(ratings) and len(pip.calls) == 1
    assert movielens_source().detail == ""
    assert sys.modules["recbole"] is None


def test_recbole_items(pip):
    items = movielens_items()
    assert list(items.columns) == ["item_id", "title", "year", *GENRES["100k"]]
    titles = ["Toy Story", "Metisse (Café au Lait)", "Land Before Time III", "unknown", "No Genre At All"]
    assert items["title"].tolist() == titles
    assert items["year"].tolist()[:3] == [1995, 1993, 1995] and items["year"].isna().tolist()[3]
    assert items.loc[0, ["Animation", "Children's", "Comedy"]].tolist() == [1, 1, 1]
    assert items.loc[3, "unknown"] == 1 and items.loc[4, "unknown"] == 1  # an item with no genre gets 'unknown'
    assert items[list(GENRES["100k"])].sum(axis=1).tolist() == [3, 1, 2, 1, 1]


def test_recbole_folds_follow_mku_sh(pip):
    folds = movielens_folds(verbose=False)
    assert [t.values.tolist() for _, t in folds] == [[list(r) for r in t] for _, t in mku_expected(RATINGS, 5)]


def test_wrong_recbole_header(pip, monkeypatch):
    pip.payload = fake_wheel(inter=INTER.replace("rating:float", "score:float"))
    monkeypatch.setattr(ml, "_WHEEL_SHA256", hashlib.sha256(pip.payload).hexdigest())
    with pytest.raises(MovieLensFormatError, match=r"ml-100k.inter, line 1: expected the header 'user_id:token"):
        movielens(verbose=False)


def test_corrupt_cached_wheel_is_deleted_and_fetched_again(tmp_path, pip, capsys):
    wheel = tmp_path / "data-root" / "pip" / ml.RECBOLE_WHEEL
    wheel.parent.mkdir(parents=True)
    wheel.write_bytes(b"truncated download")
    assert len(movielens()) == 30
    assert "the cached copy failed its SHA-256 check and was deleted" in capsys.readouterr().out
    assert wheel.read_bytes() == pip.payload and len(pip.calls) == 1


def test_fetched_wheel_with_wrong_checksum_is_discarded(tmp_path, pip):
    pip.payload = b"not the wheel"
    with pytest.raises(DataNotFoundError, match="pip fetched a wheel with SHA-256 .* it was discarded"):
        movielens()
    assert list((tmp_path / "data-root" / "pip").iterdir()) == []


def failing_pip(requirement, directory):
    return subprocess.CompletedProcess(["pip"], 1, "", "ERROR: No matching distribution found for recbole==1.2.1\n")


def timing_out_pip(requirement, directory):
    raise subprocess.TimeoutExpired(["pip"], 120)


@pytest.mark.parametrize(
    "pip_download, why",
    [(failing_pip, "exited with status 1: ERROR: No matching"), (timing_out_pip, "pip could not run: .*timed out")],
)
def test_offline_machine_is_a_helpful_error(tmp_path, monkeypatch, pip_download, why):
    monkeypatch.setattr(fetch, "pip_download", pip_download)
    wheel = tmp_path / "data-root" / "pip" / ml.RECBOLE_WHEEL
    wheel.parent.mkdir(parents=True)
    wheel.write_bytes(b"damaged")  # a damaged cache is removed, never read
    with pytest.raises(DataNotFoundError) as info:
        movielens()
    message = str(info.value)
    for part in ("MovieLens 100k was not found. Tried:", "movielens/ml-100k", "no u.data",
                 "GroupLens download: not attempted", f"recbole 1.2.1 wheel at {wheel}", "failed its SHA-256 check",
                 "To fix: put the ml-100k files", "pass root=", "let pip reach PyPI"):
        assert part in message
    assert re.search(why, message)
    assert list(wheel.parent.iterdir()) == []


def test_download_false_never_fetches_the_wheel(monkeypatch):
    monkeypatch.setattr(fetch, "pip_download", lambda requirement, directory: pytest.fail("pip must not run"))
    with pytest.raises(DataNotFoundError, match="not cached, and download=False forbids fetching it"):
        movielens(download=False)


def test_ml1m_has_no_offline_default(monkeypatch):
    monkeypatch.setattr(fetch, "pip_download", lambda requirement, directory: pytest.fail("pip must not run"))
    with pytest.raises(DataNotFoundError, match="MovieLens 1m was not found and has no offline default"):
        movielens("1m")
    with pytest.raises(DataNotFoundError, match="pass download=True"):
        movielens_source("1m")



# --- the GroupLens download ----------------------------------------------------------------


def grouplens_zip(scratch):
    """ml-100k.zip as GroupLens lays it out: every file inside an ml-100k/ folder."""
    source = write_ml100k(scratch / "zip-source")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in sorted(source.iterdir()):
            zf.write(path, f"ml-100k/{path.name}")
    return buffer.getvalue()


def serve(payload):
    """A urlopen that answers GroupLens' ml-100k.zip URL (and nothing else) with ``payload``."""
    return _serve({"ml-100k.zip": payload})


def test_download_is_verified_and_extracted(tmp_path, monkeypatch, capsys):
    payload = grouplens_zip(tmp_path)
    monkeypatch.setattr(ml, "_ZIP_MD5", {"100k": hashlib.md5(payload).hexdigest()})
    monkeypatch.setattr(fetch.urllib.request, "urlopen", serve(payload))
    ratings = movielens(download=True)
    assert ratings.values.tolist() == [list(r) for r in RATINGS]
    base = tmp_path / "data-root" / "movielens"
    assert sorted(p.name for p in base.iterdir()) == ["ml-100k", "ml-100k.zip"]
    assert sorted(p.name for p in (base / "ml-100k").iterdir()) == ["u.data", "u.item"]
    assert "(downloaded from GroupLens)" in capsys.readouterr().out
    assert movielens_source().kind == "files"  # found on disk from now on


def test_download_with_wrong_checksum_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(ml, "_ZIP_MD5", {"100k": hashlib.md5(grouplens_zip(tmp_path)).hexdigest()})
    monkeypatch.setattr(fetch.urllib.request, "urlopen", serve(b"an HTML error page"))
    with pytest.raises(DataNotFoundError, match="download=True was asked for: .*checksum mismatch"):
        movielens(download=True)
    assert list((tmp_path / "data-root" / "movielens").iterdir()) == []


def test_full_profile_falls_back_to_the_wheel_when_grouplens_fails(monkeypatch, pip, capsys):
    monkeypatch.setenv("COMPANION_PROFILE", "full")
    assert movielens_source().kind == "download"

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(fetch.urllib.request, "urlopen", offline)
    assert len(movielens()) == 30
    out = capsys.readouterr().out
    assert "recbole 1.2.1 wheel" in out and "the GroupLens download failed (could not download" in out


def test_quick_profile_never_downloads_from_grouplens(monkeypatch, pip):
    monkeypatch.setattr(fetch.urllib.request, "urlopen", lambda *a, **k: pytest.fail("no GroupLens in quick"))
    assert len(movielens(verbose=False)) == 30


def test_blank_lines_with_spaces_are_skipped(tmp_path):
    write_ml100k(tmp_path)
    lines = (tmp_path / "u.data").read_text().split("\n")
    lines.insert(3, "   \t ")
    (tmp_path / "u.data").write_text("\n".join(lines))
    ratings = movielens(root=tmp_path, verbose=False)
    assert ratings.values.tolist() == [list(r) for r in RATINGS]


@pytest.mark.parametrize("download", [None, True])
def test_an_unwritable_data_root_is_the_loaders_error_not_an_oserror(tmp_path, monkeypatch, download):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("COMPANION_DATA", str(blocker))
    monkeypatch.setattr(fetch.urllib.request, "urlopen", lambda *a, **k: pytest.fail("no download should start"))
    with pytest.raises(DataNotFoundError, match="COMPANION_DATA to a writable folder"):
        movielens("100k", download=download)
