"""The reproductions: every experiment's smoke budget end to end, resume, refusals and the records' schema."""

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import companion.reproduce as rp
from companion.data.idx import write_idx
from companion.data.mnist import DataNotFoundError, mnist
from companion.reproduce import runner

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory):
    """600 train / 200 test real digits (the embedded set) written as official idx files."""
    d = tmp_path_factory.mktemp("mnist")
    for split, name, n in (("train", "train", 600), ("test", "t10k", 200)):
        X, y = mnist(split, flatten=False, verbose=False)
        images = (X[:n, 0] * 255).round().to(torch.uint8).numpy()
        write_idx(d / f"{name}-images-idx3-ubyte.gz", images)
        write_idx(d / f"{name}-labels-idx1-ubyte.gz", y[:n].numpy().astype(np.uint8))
    return d


@pytest.fixture(scope="module")
def ml_dir(tmp_path_factory):
    """A small ml-100k folder (u.data only): 60 users of two tastes and three moods rate about half of 40 movies."""
    d = tmp_path_factory.mktemp("ml-100k")
    rng = np.random.default_rng(0)
    lines = []
    for user, item in itertools.product(range(60), range(40)):
        if rng.random() < 0.5:
            taste = 1 if (item < 20) != (user % 2 == 1) else -1
            rating = min(5, max(1, 3 + taste + (user % 3 - 1) + (item % 3 - 1)))
            lines.append(f"{user + 1}\t{item + 1}\t{rating}\t{880000000 + len(lines)}")
    order = rng.permutation(len(lines))  # u.data is in no particular order; the folds are its row blocks
    (d / "u.data").write_text("\n".join(lines[i] for i in order) + "\n")
    return d


def data_for(name, idx_dir, ml_dir):
    return ml_dir if getattr(rp.experiment(name), "DATA", "mnist") == "movielens" else idx_dir


def check_record(record: dict, name: str, budget: str) -> None:
    assert tuple(record) == rp.RECORD_KEYS
    assert record["experiment"] == name and record["budget"] == budget
    assert set(record["provenance"]) == set(rp.PROVENANCE_KEYS)
    assert record["metrics"], "a record without metrics"
    for key, value in record["metrics"].items():
        if isinstance(value, list):  # an interval; an open end is null
            assert len(value) == 2 and all(v is None or math.isfinite(v) for v in value), key
        else:
            assert isinstance(value, float) and math.isfinite(value), key
    module = rp.experiment(name)
    assert set(module.PAPER["values"]) <= set(record["metrics"]), "every published figure has our counterpart"
    assert record["paper"]["cite"] == module.PAPER["cite"]
    prov = record["provenance"]
    movielens = getattr(module, "DATA", "mnist") == "movielens"
    assert (len(prov["data_md5"]) >= 1 if movielens else len(prov["data_md5"]) == 4) and prov["wall_seconds"] > 0 and prov["command"].startswith("python -m")


@pytest.mark.parametrize("name", list(rp.EXPERIMENTS))
def test_smoke_budget_end_to_end(name, idx_dir, ml_dir, tmp_path):
    torch.manual_seed(0)
    data = data_for(name, idx_dir, ml_dir)
    record = rp.reproduce(name, "smoke", data=data, out=tmp_path, progress=False, device="cpu")
    path = tmp_path / "smoke" / f"{name}.json"
    assert json.loads(path.read_text()) == record
    check_record(record, name, "smoke")
    if data is idx_dir:
        assert record["provenance"]["data_md5"] == runner.idx_md5(idx_dir)
    else:
        import hashlib

        assert record["provenance"]["data_md5"] == {"u.data": hashlib.md5((ml_dir / "u.data").read_bytes()).hexdigest()}
    assert not (tmp_path / ".checkpoints" / "smoke" / f"{name}.pt").exists(), "the checkpoint outlived the record"


class Interrupt(Exception):
    pass


def test_resume_continues_an_interrupted_run(idx_dir, tmp_path, monkeypatch):
    calls = []
    real_fit = runner.fit

    def fit(model, X, **kw):
        calls.append(type(model).__name__)
        if len(calls) == 4:  # after the three pretraining fits
            raise Interrupt
        return real_fit(model, X, **kw)

    monkeypatch.setattr(runner, "fit", fit)
    with pytest.raises(Interrupt):
        rp.reproduce("dbn-backprop", "smoke", data=idx_dir, out=tmp_path, progress=False, device="cpu")
    ckpt = tmp_path / ".checkpoints" / "smoke" / "dbn-backprop.pt"
    assert ckpt.exists()
    state = torch.load(ckpt, weights_only=True)
    assert sorted(state["progress"]["fits"]) == ["pretrain/0", "pretrain/1", "pretrain/2"]
    # without --resume an interrupted run is never silently discarded
    with pytest.raises(rp.ReproduceError, match="--resume"):
        rp.reproduce("dbn-backprop", "smoke", data=idx_dir, out=tmp_path, progress=False, device="cpu")
    calls.clear()
    record = rp.reproduce("dbn-backprop", "smoke", data=idx_dir, out=tmp_path, progress=False, device="cpu",
                          resume=True)
    assert calls == ["Classifier", "Classifier"], "resume retrained what the checkpoint held"
    check_record(record, "dbn-backprop", "smoke")
    assert not ckpt.exists()


def test_resume_continues_inside_a_fit(idx_dir, tmp_path, monkeypatch):
    """A fit interrupted after its first chunk resumes at the chunk's end, with its optimizer state."""
    chunks = []
    real_fit = runner.fit

    def fit(model, X, **kw):
        chunks.append(kw["epochs"])
        if len(chunks) == 2:
            raise Interrupt
        return real_fit(model, X, **kw)

    monkeypatch.setattr(runner, "fit", fit)
    settings = {"epochs": 3}
    ctx = runner.Run("rbm-ais", "smoke", settings, out=tmp_path, data=idx_dir, every=2, progress=False)
    X, _ = ctx.mnist("train", binarize="sample", n=200)
    from companion.models import BernoulliRBM

    rbm = BernoulliRBM(784, 8)
    with pytest.raises(Interrupt):
        ctx.fit(rbm, X, key="rbm", epochs=3, optimizer="sgd", lr=0.1, optimizer_kwargs={"momentum": 0.5})
    saved = {k: v.clone() for k, v in rbm.state_dict().items()}
    chunks.clear()
    ctx = runner.Run("rbm-ais", "smoke", settings, out=tmp_path, data=idx_dir, every=2, progress=False, resume=True)
    fresh = BernoulliRBM(784, 8)
    history = ctx.fit(fresh, X, key="rbm", epochs=3, optimizer="sgd", lr=0.1, optimizer_kwargs={"momentum": 0.5})
    assert chunks == [1], "only the last epoch was left to train"
    assert history.epochs == 3
    assert not torch.equal(fresh.W, saved["W"])


def test_resume_refuses_a_checkpoint_of_another_commit(idx_dir, tmp_path, monkeypatch):
    ctx = runner.Run("rbm-ais", "smoke", {"a": 1}, out=tmp_path, data=idx_dir, progress=False)
    ctx.step("x", lambda: 1.0)
    monkeypatch.setattr(runner, "code_state", lambda: ("0" * 40, False))
    with pytest.raises(rp.ReproduceError, match="was written by commit"):
        runner.Run("rbm-ais", "smoke", {"a": 1}, out=tmp_path, data=idx_dir, resume=True)
    monkeypatch.undo()
    with pytest.raises(rp.ReproduceError, match="other settings"):
        runner.Run("rbm-ais", "smoke", {"a": 2}, out=tmp_path, data=idx_dir, resume=True)
    ctx = runner.Run("rbm-ais", "smoke", {"a": 1}, out=tmp_path, data=idx_dir, resume=True)
    assert ctx.step("x", lambda: pytest.fail("a finished step ran again")) == 1.0
    assert runner.Run("rbm-ais", "smoke", {"a": 1}, out=tmp_path, data=idx_dir, restart=True).state["steps"] == {}


def test_code_state_outside_git_reads_the_senders_commit(tmp_path, monkeypatch):
    monkeypatch.delenv("COMPANION_COMMIT", raising=False)
    monkeypatch.delenv("COMPANION_DIRTY", raising=False)
    assert runner.code_state(tmp_path) == ("unknown", True), "no git and no word from the sender: unknown, dirty"
    monkeypatch.setenv("COMPANION_COMMIT", "a" * 40)
    monkeypatch.setenv("COMPANION_DIRTY", "0")
    assert runner.code_state(tmp_path) == ("a" * 40, False)
    assert runner.code_state() == ("a" * 40, False), "the sender's word wins over a (possibly stale) .git"
    monkeypatch.delenv("COMPANION_DIRTY")
    assert runner.code_state(tmp_path)[1], "without COMPANION_DIRTY=0 the copy counts as dirty"


def test_missing_data_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "find_idx_dir", lambda d: None)
    with pytest.raises(DataNotFoundError, match="--data DIR"):
        rp.reproduce("deep-ae", "smoke", data=tmp_path / "nowhere", out=tmp_path)


def test_cli_reports_missing_data_and_bad_names(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "companion", "reproduce", *a],  # noqa: E731
                                    capture_output=True, text=True, cwd=REPO)
    result = run("deep-ae", "--budget", "smoke", "--data", str(tmp_path), "--out", str(tmp_path))
    assert result.returncode == 2 and "--data DIR" in result.stderr and "Traceback" not in result.stderr
    result = run("deep-autoencoder")
    assert result.returncode == 2 and "invalid choice" in result.stderr
    result = run("rbm-cf", "--budget", "smoke", "--data", str(tmp_path), "--out", str(tmp_path))
    assert result.returncode == 2 and "holds no MovieLens 100k ratings" in result.stderr, result.stderr


def test_unknown_experiment_and_budget():
    with pytest.raises(ValueError, match="unknown experiment"):
        rp.experiment("dbn")
    with pytest.raises(ValueError, match="unknown budget"):
        rp.reproduce("dbm", "huge")


def test_records_refuse_non_finite_metrics(idx_dir, tmp_path):
    ctx = runner.Run("dbm", "smoke", {}, out=tmp_path, data=idx_dir)
    with pytest.raises(ValueError, match="finite"):
        ctx.record({"test_error": float("nan")}, {})
    assert not (tmp_path / "smoke" / "dbm.json").exists()


COMMITTED = sorted(p for b in ("cpu", "gpu", "paper") for p in (REPO / "results" / b).glob("*.json"))


@pytest.mark.parametrize("path", COMMITTED, ids=[f"{p.parent.name}/{p.stem}" for p in COMMITTED])
def test_committed_record(path):
    record = json.loads(path.read_text())
    check_record(record, path.stem, path.parent.name)
    commit = record["provenance"]["commit"]
    known = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=REPO, capture_output=True)
    assert known.returncode == 0, f"{path.name} names commit {commit}, which is not in this repository's history"
    assert record["provenance"]["dirty"] is False, "a committed record must come from a clean checkout"
    if record["budget"] == "cpu":
        assert record["provenance"]["wall_seconds"] <= 3600, "the cpu budget is an hour on 2 cores"


@pytest.fixture(scope="module")
def fixture_records(idx_dir, tmp_path_factory):
    """Records of two smoke runs, filed as a cpu and a gpu record (what the page reads)."""
    root = tmp_path_factory.mktemp("results")
    for name, budget in (("deep-ae", "cpu"), ("dbm", "gpu")):
        record = rp.reproduce(name, "smoke", data=idx_dir, out=root / "runs", progress=False, device="cpu")
        record["budget"] = budget
        (root / budget).mkdir(exist_ok=True)
        (root / budget / f"{name}.json").write_text(json.dumps(record))
    return root


def test_report_tables_from_records(fixture_records):
    from companion.reproduce import report

    records = report.load_records(fixture_records)
    assert [(r["experiment"], r["budget"]) for r in records] == [("deep-ae", "cpu"), ("dbm", "gpu")]
    for lang in ("en", "zh"):
        table = report.table(records, lang)
        lines = table.splitlines()
        assert len(lines) == 2 + len(rp.EXPERIMENTS), "one row per record, one per experiment without any"
        deep = next(line for line in lines if line.startswith("| `deep-ae`"))
        sse = records[0]["metrics"]["test_sse"]
        assert f"{sse:.2f}" in deep and records[0]["provenance"]["commit"][:8] in deep
        assert ("missed" if lang == "en" else "未达到") in deep  # a smoke-sized autoencoder is far from 4.0
        assert "{cite}`hinton2006reducing`" in deep
        assert "reproduce rbm-ais --budget cpu" in table, "an experiment without a record says how to make one"
    rows = report.chapter_rows("dbm", {"test_error": 0.031, "test_log_likelihood_bound": -119.0}, fixture_records)
    assert "3.10%" in rows and "-119.00" in rows and "Ours (gpu)" in rows and "0.95%" in rows
    assert "No full-scale record" in report.chapter_rows("vae-nll", {}, fixture_records)
    assert "quick profile (this page)" in rows


def test_chapter_rows_name_the_pages_own_column_for_its_profile(fixture_records, monkeypatch):
    from companion.reproduce import report

    monkeypatch.setenv("COMPANION_PROFILE", "full")
    rows = report.chapter_rows("dbm", {"test_error": 0.031}, fixture_records)
    assert "full profile (this page)" in rows and "quick" not in rows
    assert "full配置（本页）" in report.chapter_rows("dbm", {"test_error": 0.031}, fixture_records, "zh")


def test_reproductions_page_renders_fixture_records(fixture_records, monkeypatch):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")

    monkeypatch.setenv("COMPANION_RESULTS", str(fixture_records))
    nb = jupytext.read(REPO / "book" / "reproductions.md")
    nbclient.NotebookClient(nb, timeout=120, resources={"metadata": {"path": str(REPO / "book")}}).execute()
    glued = {o["metadata"]["scrapbook"]["name"]: o["data"]["application/papermill.record/text/markdown"]
             for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
             if "scrapbook" in o.get("metadata", {})}
    assert set(glued) == {"table_en", "table_zh"}
    record = json.loads((fixture_records / "cpu" / "deep-ae.json").read_text())
    for text in glued.values():
        assert record["provenance"]["commit"][:8] in text and f"{record['metrics']['test_sse']:.2f}" in text


def test_an_open_ais_interval_is_flagged_in_the_table():
    from companion.reproduce import report

    record = {"experiment": "rbm-ais", "budget": "cpu",
              "metrics": {"test_log_likelihood": -90.0, "log_z_interval": [None, 400.0]}}
    assert "open below: optimistic" in report.summary(record)
    record["metrics"]["log_z_interval"] = [399.0, 400.0]
    assert "open below" not in report.summary(record)


def test_chapter_rows_flag_an_open_ais_interval(tmp_path):
    from companion.reproduce import report

    (tmp_path / "cpu").mkdir()
    record = {"experiment": "rbm-ais", "budget": "cpu", "metrics": {"test_log_likelihood": -90.0,
              "test_log_likelihood_se": 0.2, "log_z_interval": [None, 400.0]}}
    (tmp_path / "cpu" / "rbm-ais.json").write_text(json.dumps(record))
    rows = report.chapter_rows("rbm-ais", {"test_log_likelihood": -110.0}, tmp_path)
    assert "-90.00 ± 0.20 †" in rows and "likelihood optimistic" in rows
    assert "偏乐观" in report.chapter_rows("rbm-ais", {}, tmp_path, "zh")


def test_rbm_cf_scores_every_model_and_reads_movielens_beside_mnist(idx_dir, ml_dir, tmp_path, monkeypatch):
    """The smoke run of the recommenders: every model's keys, settings chosen on validation, never on test."""
    record = rp.reproduce("rbm-cf", "smoke", data=ml_dir, out=tmp_path, progress=False, device="cpu")
    metrics = record["metrics"]
    from companion.reproduce.rbm_cf import MODELS

    for model in MODELS:
        for key in (f"rmse_{model}", f"mae_{model}", f"p10_{model}"):
            assert key in metrics and f"{key}_std" in metrics
    assert metrics["rmse_baseline"] < metrics["rmse_global_mean"], "the biases see the users' and movies' moods"
    assert "folds 1-2 of 5" in record["config"]["data"] and "mku.sh" in record["config"]["data"]
    chosen = record["config"]["chosen"]
    assert [set(c) for c in chosen["autorec"]] == [{"reg", "epochs", "val_rmse"}] * 2
    # the same run with every test rating turned upside down chooses the same settings and epochs
    real = runner.Run.movielens_folds

    def flipped(self, version="100k", n=5):
        ratings, folds = real(self, version, n)
        return ratings, [(train, test.assign(rating=6 - test["rating"])) for train, test in folds]

    monkeypatch.setattr(runner.Run, "movielens_folds", flipped)
    again = rp.reproduce("rbm-cf", "smoke", data=ml_dir, out=tmp_path / "flipped", progress=False, device="cpu")
    assert again["config"]["chosen"] == chosen
    assert again["metrics"]["rmse_baseline"] != metrics["rmse_baseline"], "the test fold did change"
    # `reproduce all --data <MNIST>`: the MNIST folder is meant for the others; MovieLens falls back to its default
    ctx = runner.Run("rbm-cf", "smoke", {}, out=tmp_path, data=idx_dir, data_kind="movielens")
    assert ctx.data_dir is None
    with pytest.raises(Exception, match="holds no MovieLens"):
        runner.Run("rbm-cf", "smoke", {}, out=tmp_path, data=tmp_path, data_kind="movielens").movielens_folds()
