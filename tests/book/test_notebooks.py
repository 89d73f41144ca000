"""The chapter notebooks offered for download (book/_ext/notebooks.py): plain Jupyter, one language each."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("notebooks", ROOT / "book" / "_ext" / "notebooks.py")
notebooks = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = notebooks  # its dataclass looks its module up
_spec.loader.exec_module(notebooks)

CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))
# what plain Jupyter would show as raw MyST: roles, directive fences, targets, tab options
MYST_LEFT = re.compile(r"\{[a-z][a-z:-]*\}`|^\s*(?:`{3,}|:{3,})\{|^\([^()\s]+\)=\s*$|^:(?:sync|sync-group|label|"
                       r"class|tags|pyobject):", re.M)
CJK = re.compile(r"[\u4e00-\u9fff]")


def _markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


@pytest.fixture(scope="module")
def exported():
    bib = notebooks.read_bib()
    out = {}
    for lang in notebooks.LANGS:
        labels = notebooks.read_labels(CHAPTERS + sorted((ROOT / "book").glob("*.md")), lang)
        for path in CHAPTERS:
            out[path.stem, lang] = notebooks.export(path, lang, bib=bib, labels=labels)
    return out


@pytest.mark.parametrize("lang", notebooks.LANGS)
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_exports_to_a_valid_plain_notebook(exported, path, lang):
    nb = exported[path.stem, lang]
    nbformat.validate(nb)
    text = _markdown(nb)
    left = MYST_LEFT.findall(text)
    assert not left, f"MyST syntax left in the {lang} notebook of {path.name}: {left[:5]}"
    lines_cjk = [line for line in text.splitlines() if CJK.search(line)]
    if lang == "en":
        assert not lines_cjk, f"Chinese prose in the English notebook: {lines_cjk[:2]}"
    else:
        assert len(lines_cjk) > 10, "the Chinese notebook carries the Chinese prose"
    first = nb.cells[1].source
    assert nb.cells[1].cell_type == "code" and "import companion" in first and "pip install -e ." in first
    assert "do not" in first and "`pip install companion`" in first, "the unrelated PyPI name is warned against"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_hidden_test_cells_are_dropped_and_every_other_code_cell_kept(exported, path):
    import jupytext

    source = jupytext.read(path, fmt="md:myst")
    kept = [c.source for c in source.cells
            if c.cell_type == "code" and "remove-cell" not in c.metadata.get("tags", [])]
    for lang in notebooks.LANGS:
        code = [c.source for c in exported[path.stem, lang].cells if c.cell_type == "code"][1:]
        assert len(code) == len(kept)
        for mine, theirs in zip(code, kept):
            assert theirs.strip().splitlines()[-1].strip() in mine


def test_equations_citations_and_exercises_become_plain_text(exported):
    text = _markdown(exported["04_denoising_sparse", "en"])
    assert re.search(r"\\tag\{1\}\s*\n\$\$", text), "the first labelled equation is tagged (1)"
    assert "(Vincent et al. 2008)" in text
    assert "**Exercise 1**" in text and "**Solution to Exercise 1**" in text
    zh = _markdown(exported["04_denoising_sparse", "zh"])
    assert "**练习1**" in zh and "练习1的解答" in zh
    assert "# 04 · 去噪" in zh and "Denoising" not in zh.splitlines()[2]


def test_glue_values_of_the_build_are_pasted_with_their_format(tmp_path):
    src = tmp_path / "ch.md"
    src.write_text("# A · 甲\n\n::::{tab-set}\n:sync-group: lang\n\n:::{tab-item} English\n:sync: en\n\n"
                   "Error {glue:text}`err:.2%`, missing {glue:text}`nowhere`, see {eq}`eq-a`.\n:::\n\n"
                   ":::{tab-item} 中文\n:sync: zh\n\n误差{glue:text}`err:.1%`。\n:::\n::::\n\n"
                   "```{math}\n:label: eq-a\nx = 1\n```\n", encoding="utf-8")
    glue = {"err": {"data": {"text/plain": "0.01234"}}}
    en = _markdown(notebooks.export(src, "en", glue=glue, bib={}, labels={}))
    assert "Error 1.23%, missing `nowhere`, see (1)." in en and en.startswith("*Exported") and "# A\n" in en
    zh = _markdown(notebooks.export(src, "zh", glue=glue, bib={}, labels={}))
    assert "误差1.2%。" in zh and "# 甲" in zh


def test_a_deliberate_error_prints_instead_of_stopping_run_all(tmp_path):
    src = tmp_path / "ch.md"
    src.write_text("# A\n\n```{code-cell} ipython3\n:tags: [raises-exception]\n\nraise ValueError('on purpose')\n```\n"
                   "\n```{code-cell} ipython3\n:tags: [remove-cell]\n\nassert False\n```\n", encoding="utf-8")
    nb = notebooks.export(src, "en", bib={}, labels={})
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert len(code) == 2 and "assert False" not in "".join(code)
    namespace: dict = {}
    exec(code[1], namespace)  # prints "ValueError: on purpose" and returns


@pytest.mark.parametrize("text, what", [
    ("```{figure} x.png\n```\n", "{figure}"),
    ("See {download}`x`.\n", "{download}"),
    ("See {cite}`nobody2099`.\n", "nobody2099"),
    ("See {eq}`eq-nowhere`.\n", "eq-nowhere"),
    (":::{note}\nunclosed\n", "never closed"),
])
def test_what_the_exporter_cannot_render_is_a_clear_error(tmp_path, text, what):
    src = tmp_path / "ch.md"
    src.write_text("# A\n\n" + text, encoding="utf-8")
    with pytest.raises(notebooks.ExportError, match=re.escape(what)):
        notebooks.export(src, "en", bib={}, labels={})


def test_an_exported_notebook_runs_end_to_end():
    """Chapter 02 (it holds deliberate errors) as a learner would run it: every cell, in order."""
    from nbclient import NotebookClient

    nb = notebooks.export(ROOT / "chapters" / "02_autoencoders.md", "en")
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "chapters")}}).execute()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "is ready" in outputs
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors


def _listings():
    for path in CHAPTERS:
        items, _ = notebooks._parse(path.read_text(encoding="utf-8").splitlines(), where=path.name)
        stack = list(items)
        while stack:
            item = stack.pop()
            if isinstance(item, notebooks.Directive):
                if item.name == "literalinclude":
                    yield path, item
                elif item.name not in ("math", "code-cell"):
                    stack.extend(item.body)


@pytest.mark.parametrize("path, directive", list(_listings()), ids=lambda x: getattr(x, "stem", None) or
                         getattr(x, "arg", None) and x.options.get("pyobject", x.arg))
def test_quoted_code_is_what_sphinx_shows(path, directive):
    from sphinx.config import Config
    from sphinx.directives.code import LiteralIncludeReader

    config = Config({}, {})
    options = {k: ("" if v is None else v) for k, v in directive.options.items()}
    if "dedent" in options and options["dedent"] != "":
        options["dedent"] = int(options["dedent"])
    elif "dedent" in options:
        options["dedent"] = None
    theirs, _ = LiteralIncludeReader(str((path.parent / directive.arg).resolve()), options, config).read()
    mine = notebooks.Exporter(path, "en", bib={}, labels={})._include(directive)
    assert mine.rstrip() == theirs.rstrip()


def test_the_book_s_numbers_win_over_the_chapter_s_own(tmp_path):
    src = tmp_path / "ch.md"
    src.write_text("# A\n\nSee {eq}`eq-a` and {numref}`ex-a`.\n\n```{math}\n---\nlabel: eq-a\n---\nx = 1\n```\n\n"
                   "````{exercise}\n:label: ex-a\n\nDo it.\n````\n\n````{exercise}\n\nNo label.\n````\n",
                   encoding="utf-8")
    own = _markdown(notebooks.export(src, "en", bib={}, labels={}))
    assert "See (1) and Exercise 1." in own and "\\tag{1}" in own and "**Exercise 2**" in own
    book = _markdown(notebooks.export(src, "en", bib={}, labels={},
                                      numbers={"equations": {"eq-a": 25}, "exercises": {"ex-a": 31}}))
    assert "See (25) and Exercise 31." in book and "\\tag{25}" in book and "**Exercise 31**" in book


def test_without_myst_nb_the_first_cell_stands_in_for_glue(monkeypatch, capsys):
    nb = notebooks.export(ROOT / "chapters" / "01_why_compress.md", "en")
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # as if myst_nb were not installed
    exec(nb.cells[1].source, {})
    from myst_nb import glue

    glue("x", 1.5, display=False)  # the chapters' calls work and show nothing
    assert "is ready" in capsys.readouterr().out


def test_blank_lines_inside_quoted_code_survive(tmp_path):
    src = tmp_path / "ch.md"
    src.write_text("# A\n\n\n\nText.\n\n```python\ndef f():\n    pass\n\n\ndef g():\n    pass\n```\n", encoding="utf-8")
    text = _markdown(notebooks.export(src, "en", bib={}, labels={}))
    assert "pass\n\n\ndef g" in text and "# A\n\nText." in text


def test_a_signature_typed_above_quoted_code_is_still_the_source_s():
    # a `prepend` (the signature above a quote that starts past the docstring) is typed by hand: every
    # line of it must still be a line of the quoted file, or the book shows a signature the code lost
    stale = []
    for path, directive in _listings():
        if "prepend" not in directive.options:
            continue
        lines = {line.strip() for line in (path.parent / directive.arg).resolve().read_text().splitlines()}
        stale += [(path.name, line) for line in directive.options["prepend"].splitlines() if line.strip() not in lines]
    assert not stale, stale
