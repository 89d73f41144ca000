"""The browser check's static parts, on a tiny site (the browser part runs in `make check-book`)."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("check_book", Path(__file__).with_name("check_book.py"))
check_book = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_book)


def test_broken_links_finds_missing_pages_and_anchors(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="sub/a.html#there">ok</a> <a href="sub/a.html#nowhere">bad anchor</a> '
        '<a href="missing.html">bad page</a> <a href="https://example.org/x">external</a> <a href="#top">self</a>'
        '<h1 id="top">t</h1>')
    (tmp_path / "sub" / "a.html").write_text('<section id="there"></section><a href="../index.html">up</a>')
    faults = check_book.broken_links(tmp_path, sorted(tmp_path.rglob("*.html")))
    assert faults == ["index.html: link to sub/a.html#nowhere: no such anchor",
                      "index.html: link to missing.html: no such file"]


@pytest.mark.parametrize("text", ["UserWarning: x", "/work/main/.venv/lib/python3.11/x.py", "Traceback (most "
                                  "recent call last)", "/usr/lib/python3/dist-packages", "TqdmWarning: IProgress"])
def test_output_faults_catch_warnings_and_machine_paths(text):
    assert check_book.OUTPUT_FAULTS.search(text)


@pytest.mark.parametrize("text", ["test error 4.2%", "ValueError: dims must be positive", "a warning sign"])
def test_output_faults_leave_ordinary_output_alone(text):
    assert not check_book.OUTPUT_FAULTS.search(text)


def test_a_missing_build_is_a_clear_error(tmp_path, capsys):
    assert check_book.main([str(tmp_path)]) == 2
    assert "build the book first (make book)" in capsys.readouterr().err


def _img(**kw):
    return {"src": "../_images/ab12.png", "output": True, "caption": "Fig. 3 Training curves · 训练曲线",
            "number": "Fig. 3", "alt": "Two curves falling with the epochs · 随轮次下降的两条曲线", **kw}


def test_a_numbered_bilingual_figure_with_its_own_alt_text_passes():
    assert check_book.figure_fault(_img()) is None
    assert check_book.figure_fault(_img(output=False, caption=None, alt="")) is None  # not a cell's figure


@pytest.mark.parametrize("kw, fault", [
    (dict(caption=None, number=None), "without a caption"),
    (dict(number=None), "without a number"),
    (dict(caption="Fig. 3 Training curves"), "both languages"),
    (dict(caption="Fig. 3 Training curves · loss curves"), "both languages"),
    (dict(alt=""), "alt text"),
    (dict(alt="8634c86c7e03bf0c790e52b8800eeab65e9ea4f39e433f2c08f823cfce232e75"), "alt text"),
    (dict(alt="../_images/ab12.png"), "alt text"),
])
def test_figures_missing_a_number_a_caption_or_alt_text_are_faults(kw, fault):
    assert fault in check_book.figure_fault(_img(**kw))


def _notebook(markdown: str) -> str:
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(markdown), nbformat.v4.new_code_cell("1")])
    return nbformat.writes(nb)


def test_chapter_pages_must_link_their_two_notebooks_in_their_languages(tmp_path):
    (tmp_path / "chapters").mkdir()
    (tmp_path / "_notebooks").mkdir()
    links = '<a href="../_notebooks/01_a.en.ipynb">en</a><a href="../_notebooks/01_a.zh.ipynb">zh</a>'
    (tmp_path / "chapters" / "01_a.html").write_text(links)
    (tmp_path / "chapters" / "02_b.html").write_text('<a href="../_notebooks/02_b.en.ipynb">en</a>')
    (tmp_path / "_notebooks" / "01_a.en.ipynb").write_text(_notebook("Plain English."))
    (tmp_path / "_notebooks" / "01_a.zh.ipynb").write_text(_notebook("Plain English again."))
    (tmp_path / "_notebooks" / "02_b.en.ipynb").write_text("{not json")
    faults = check_book.notebook_link_faults(tmp_path)
    assert faults == ["_notebooks/01_a.zh.ipynb: the Chinese notebook holds almost no Chinese",
                      "_notebooks/02_b.en.ipynb: not a valid notebook (Notebook does not appear to be JSON: "
                      "'{not json')",
                      "chapters/02_b.html: no download link to _notebooks/02_b.zh.ipynb"]
    assert check_book.notebook_fault(_notebook("自编码器" * 60).encode(), "zh") is None
    assert "Chinese characters" in check_book.notebook_fault(_notebook("自编码器").encode(), "en")
    assert "not a valid notebook" in check_book.notebook_fault(b"[]", "en")
    assert "glue keys such as 'ch01_r2'" in check_book.notebook_fault(_notebook("R² is `ch01_r2`.").encode(), "en")


def test_scripts_and_stylesheets_from_another_host_are_faults(tmp_path):
    (tmp_path / "a.html").write_text(
        '<script src="_static/ok.js"></script><link rel="stylesheet" href="_static/ok.css">'
        '<script src="https://cdn.jsdelivr.net/npm/x.js"></script><link rel="stylesheet" href="//fonts.x.org/a.css">'
        '<script>require.config({paths: {w: "https://unpkg.com/@jupyter-widgets/html-manager@1/dist/embed"}})</script>'
        '<a href="https://example.org/paper.pdf">a paper is only a link</a>')
    faults = check_book.external_assets(tmp_path, [tmp_path / "a.html"])
    assert faults == ["a.html: loads https://cdn.jsdelivr.net/npm/x.js from another host",
                      "a.html: loads //fonts.x.org/a.css from another host",
                      "a.html: an inline script fetches from https://unpkg.com/"]
