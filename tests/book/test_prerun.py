"""book/_tools/prerun_chapters.py: what it caches is exactly what myst-nb looks up, and a failure is left to Sphinx."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from jupyter_cache import get_cache
from myst_nb.core.read import myst_nb_reader_plugin

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("prerun_chapters", ROOT / "book" / "_tools" / "prerun_chapters.py")
prerun = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = prerun  # its worker function is pickled by module name
_spec.loader.exec_module(prerun)

PAGE = """---
kernelspec:
  display_name: Python 3 (ipykernel)
  language: python
  name: python3
---

# A page

```{{code-cell}} ipython3
:tags: [remove-input]

import os
print("threads", os.environ.get("OMP_NUM_THREADS"), {body})
```
"""


def _page(path: Path, body: str) -> str:
    path.write_text(PAGE.format(body=body), encoding="utf8")
    return str(path)


def test_cached_pages_match_and_failures_are_left_out(tmp_path, capsys):
    good = _page(tmp_path / "good.md", "6 * 7")
    bad = _page(tmp_path / "bad.md", "1 / 0")
    cache_dir = tmp_path / "cache"
    assert prerun.main([str(cache_dir), good, bad, "--timeout", "120"]) == 0
    out = capsys.readouterr().out
    assert "bad.md failed" in out and "ZeroDivisionError" in out and "1 of 2 chapters cached" in out

    cache = get_cache(str(cache_dir))
    # myst-nb reads the page with the same reader and finds the record by the hash of its code cells
    record = cache.match_cache_notebook(myst_nb_reader_plugin(good))
    assert record.data["execution_seconds"] > 0
    outputs = cache.get_cache_bundle(record.pk).nb.cells[0].outputs
    assert "threads 1 42" in outputs[0]["text"]  # each kernel ran on one thread
    assert len(cache.list_cache_records()) == 1  # the failed page was not cached: Sphinx runs it and shows why

    # a second call finds the page cached and executes nothing
    assert prerun.main([str(cache_dir), good, "--timeout", "120"]) == 0
    assert "every chapter is in the execution cache" in capsys.readouterr().out
