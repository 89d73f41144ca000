"""book/_tools/run_full.py: the full-profile records hold exactly what the chapter glued, and only clean code records."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("run_full", ROOT / "book" / "_tools" / "run_full.py")
run_full = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = run_full
_spec.loader.exec_module(run_full)

PAGE = """---
kernelspec: {display_name: Python 3 (ipykernel), language: python, name: python3}
---

# A page

```{code-cell} ipython3
import os
import numpy as np
from myst_nb import glue
glue("t_profile", os.environ["COMPANION_PROFILE"], display=False)
glue("t_float", 0.25, display=False)
glue("t_numpy", np.float64(1.5), display=False)
glue("t_int", 3)
from IPython.display import Markdown
glue("t_md", Markdown("*both* tabs"), display=False)
print("not a glued value")
```
"""


@pytest.mark.parametrize("text, value", [("0.25", 0.25), ("np.float64(1.5)", 1.5), ("np.int64(-3)", -3),
                                         ("'full'", "full"), ("[1, 2]", [1, 2]), ("array([1, 2])", "array([1, 2])")])
def test_parse_plain(text, value):
    assert run_full.parse_plain(text) == value


def test_chapter_number():
    assert run_full.chapter_number("chapters/02_autoencoders.md") == "02"
    with pytest.raises(ValueError, match="NN_topic.md"):
        run_full.chapter_number("book/setup.md")


@pytest.fixture
def clean_commit(tmp_path, monkeypatch):
    """A clean checkout at a made-up commit, with the data found in tmp_path; main's settings for its
    kernels are restored after the test."""
    for name, value in (("COMPANION_PROFILE", "quick"), ("TQDM_DELAY", "0"), ("IPYTHONDIR", str(tmp_path)),
                        ("COMPANION_DATA", str(tmp_path)), ("COMPANION_COMMIT", "f" * 40), ("COMPANION_DIRTY", "0")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.setattr("companion.reproduce.runner.find_data", lambda data: tmp_path)


def test_records_every_glued_value_in_the_full_profile(tmp_path, monkeypatch, clean_commit):
    page = tmp_path / "07_page.md"
    page.write_text(PAGE)
    monkeypatch.setattr(run_full, "_provenance",
                        lambda seconds, command, commit, dirty: {"commit": commit, "dirty": dirty, "command": command})
    out = tmp_path / "records"
    assert run_full.main([str(page), "--out", str(out), "--notebooks", str(tmp_path / "nb")]) == 0
    record = json.loads((out / "07.json").read_text())
    assert tuple(record) == run_full.RECORD_KEYS
    assert record["values"] == {"t_profile": "full", "t_float": 0.25, "t_numpy": 1.5, "t_int": 3, "t_md": "*both* tabs"}
    assert (tmp_path / "nb" / "07.ipynb").is_file()
    # a second call finds the record naming this commit and executes nothing
    page.write_text(PAGE.replace("0.25", "1 / 0"))
    assert run_full.main([str(page), "--out", str(out), "--notebooks", str(tmp_path / "nb")]) == 0
    assert json.loads((out / "07.json").read_text())["values"]["t_float"] == 0.25
    # --force runs it again; a failing chapter leaves its old record and reports the failure
    assert run_full.main([str(page), "--out", str(out), "--notebooks", str(tmp_path / "nb"), "--force"]) == 1
    assert json.loads((out / "07.json").read_text())["values"]["t_float"] == 0.25


def test_refuses_uncommitted_code(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COMPANION_COMMIT", "f" * 40)
    monkeypatch.setenv("COMPANION_DIRTY", "1")
    with pytest.raises(SystemExit):
        run_full.main([str(ROOT / "chapters" / "01_why_compress.md"), "--out", str(tmp_path)])
    assert "uncommitted changes" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_a_dead_kernel_is_a_failed_chapter_not_a_crash(tmp_path, clean_commit, capsys):
    page = tmp_path / "08_page.md"
    page.write_text(PAGE.replace('print("not a glued value")', "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"))
    out = tmp_path / "records"
    assert run_full.main([str(page), "--out", str(out), "--notebooks", str(tmp_path / "nb")]) == 1
    assert "08_page.md FAILED" in capsys.readouterr().out
    assert not out.exists()


def test_its_own_records_do_not_make_the_checkout_dirty(tmp_path, monkeypatch):
    import subprocess

    monkeypatch.delenv("COMPANION_COMMIT", raising=False)
    monkeypatch.setattr(run_full, "REPO", tmp_path)
    git = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    (tmp_path / "results" / "chapters").mkdir(parents=True)
    (tmp_path / "results" / "chapters" / "02.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    assert run_full.code_state()[1] is False
    (tmp_path / "results" / "chapters" / "02.json").write_text('{"values": {}}')  # a record just written
    assert run_full.code_state()[1] is False
    (tmp_path / "code.py").write_text("x = 2")
    assert run_full.code_state()[1] is True
