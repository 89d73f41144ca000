"""A notebook to download for each chapter and language, made from the chapter's MyST source.

The chapters are MyST notebooks written once for both languages: prose in
sphinx-design tab-sets (``:sync: en`` / ``:sync: zh``), numbers pasted by
``{glue:text}``, equations, citations and cross-references as MyST roles. Plain
Jupyter renders none of that, so :func:`export` turns one chapter into a plain
``.ipynb`` in one language:

- each tab-set keeps the chosen language's tab (a tab-set of other tabs, such as
  Keras/PyTorch, keeps them all, one after the other under their titles);
  headings ``English · 中文`` keep their side;
- ``{math}`` blocks become ``$$ … \\tag{n} $$`` numbered in order, ``{eq}`` the
  same ``(n)``; ``{cite}`` author and year from ``book/references.bib``;
  ``{term}``, ``{ref}`` and ``{numref}`` their text;
- ``{glue:text}`` and ``{glue:md}`` the values of the book's build (the
  executed notebook's glue data), or, without a build, the key in code
  (the cell that computes it shows the value when run);
- ``{literalinclude}`` the quoted code of ``companion``; exercises, solutions
  and dropdowns bold headings and ``<details>`` blocks;
- the hidden test cells (``remove-cell``) are dropped; a cell that raises on
  purpose (``raises-exception``) prints its error instead, so that *Run all*
  runs to the end; a first cell checks that ``companion`` is importable and
  says how to install it.

As a Sphinx extension it writes ``_notebooks/<chapter>.<lang>.ipynb`` into the
HTML output after the build and adds both to each chapter's download menu.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

LANGS = ("en", "zh")
ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = ROOT / "chapters"
OUTPUT_DIR = "_notebooks"

_WORDS = {
    "en": {"exercise": "Exercise", "solution": "Solution to Exercise", "end": "end of the solution",
           "lang": "English", "other": "中文"},
    "zh": {"exercise": "练习", "solution": "练习{n}的解答", "end": "解答到此结束", "lang": "中文", "other": "English"},
}

_OPEN = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|:{3,})\{(?P<name>[^}\s]+)\}[ \t]*(?P<arg>.*?)\s*$")
_PLAIN_FENCE = re.compile(r"^ *(?P<fence>`{3,}|~{3,})(?P<info>[^`{]*)$")
_OPTION = re.compile(r"^:(?P<key>[\w-]+):[ \t]*(?P<value>.*)$")
_ROLE = re.compile(r"\{(?P<role>[a-z][a-z:-]*)\}`(?P<content>[^`]*)`")
_LABEL_LINE = re.compile(r"^\((?P<label>[^()\s]+)\)=\s*$")
_TARGET = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)
_HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<title>.+?)\s*$")


class ExportError(ValueError):
    """A chapter's MyST that the exporter cannot turn into plain Markdown (names the file and the construct)."""


# ---------------------------------------------------------------------------------------------- references
def read_bib(path: Path = ROOT / "book" / "references.bib") -> dict[str, str]:
    """``{key: "Hinton & Salakhutdinov 2006"}`` for every entry of a BibTeX file (first authors' surnames, year)."""
    text = path.read_text(encoding="utf-8")
    out = {}
    for match in re.finditer(r"@\w+\{(?P<key>[^,\s]+),(?P<body>.*?)\n\}", text, re.S):
        body = match["body"]
        author = re.search(r"\bauthor\s*=\s*\{(?P<v>(?:[^{}]|\{[^{}]*\})*)\}", body)
        year = re.search(r"\byear\s*=\s*\{?(?P<v>\d{4})", body)
        names = [a.strip() for a in re.split(r"\s+and\s+", author["v"])] if author else []
        surnames = [(n.split(",")[0] if "," in n else n.split()[-1]).strip("{} ") for n in names if n]
        if len(surnames) > 2:
            who = f"{surnames[0]} et al."
        else:
            who = " & ".join(surnames) or match["key"]
        out[match["key"]] = f"{who} {year['v'] if year else 'n.d.'}".strip()
    return out


def pick_side(title: str, lang: str) -> str:
    """The ``lang`` side of a bilingual title ``English · 中文`` (``01 · English · 中文`` keeps its number)."""
    parts = [p.strip() for p in title.split(" · ")]
    if len(parts) == 2:
        return parts[LANGS.index(lang)]
    if len(parts) == 3:
        return f"{parts[0]} · {parts[1 + LANGS.index(lang)]}"
    return title


def read_labels(paths, lang: str) -> dict[str, str]:
    """``{label: title}`` of every ``(label)=`` target that precedes a heading, in ``lang``."""
    labels = {}
    for path in paths:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            m = _LABEL_LINE.match(line)
            if m and i + 1 < len(lines) and (h := _HEADING.match(lines[i + 1])):
                labels[m["label"]] = pick_side(h["title"], lang)
    return labels


# ---------------------------------------------------------------------------------------------- parsing
@dataclass
class Directive:
    name: str
    arg: str
    options: dict = field(default_factory=dict)
    body: list = field(default_factory=list)  # strings (plain lines) and Directive / ("fence", lines) items
    line: int = 0


def _parse(lines: list[str], start: int = 0, close: tuple[str, int] | None = None, where: str = ""):
    """Parse ``lines[start:]`` into items until the closing fence ``close`` (char, length); return (items, next)."""
    items, i = [], start
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if close and stripped and set(stripped) == {close[0]} and len(stripped) >= close[1]:
            return items, i + 1
        m = _OPEN.match(line)
        if m:
            fence = m["fence"]
            d = Directive(m["name"], m["arg"], line=i + 1)
            i += 1
            if i < len(lines) and lines[i].strip() == "---":  # YAML options
                end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "---"), None)
                if end is None:
                    raise ExportError(f"{where}:{i + 1}: an options block opened by --- is never closed")
                d.options = _yaml_options(lines[i + 1:end])
                i = end + 1
            while i < len(lines) and (o := _OPTION.match(lines[i].strip())):
                d.options[o["key"]] = o["value"]
                i += 1
            if d.name in ("code-cell", "math", "literalinclude") or fence[0] == "`" and d.name in ("glue:md",):
                end = _closing(lines, i, fence)
                if end is None:
                    raise ExportError(f"{where}:{d.line}: {{{d.name}}} is never closed")
                d.body = lines[i:end]
                i = end + 1
            else:
                d.body, i = _parse(lines, i, (fence[0], len(fence)), where)
            items.append(d)
            continue
        m = _PLAIN_FENCE.match(line)
        if m:
            fence = m["fence"]
            end = _closing(lines, i + 1, fence)
            if end is None:
                raise ExportError(f"{where}:{i + 1}: a code block opened by {fence} is never closed")
            items.append(("fence", lines[i:end + 1]))
            i = end + 1
            continue
        items.append(line)
        i += 1
    if close:
        raise ExportError(f"{where}: a directive fenced by {close[0] * close[1]} is never closed")
    return items, i


def _closing(lines: list[str], start: int, fence: str) -> int | None:
    """Index of the first line from ``start`` that closes ``fence`` (the same character, at least as many)."""
    return next((j for j in range(start, len(lines))
                 if set(lines[j].strip()) == {fence[0]} and len(lines[j].strip()) >= len(fence)), None)


def _yaml_options(lines: list[str]) -> dict:
    import yaml

    try:
        options = yaml.safe_load("\n".join(lines)) or {}
    except yaml.YAMLError as exc:
        raise ExportError(f"unreadable options block: {exc}") from exc
    if not isinstance(options, dict):
        raise ExportError(f"an options block must be a mapping, got {options!r}")
    return options


# ---------------------------------------------------------------------------------------------- the exporter
class Exporter:
    """Turns one chapter into a plain notebook in one language (see the module's docstring)."""

    def __init__(self, source: Path, lang: str, glue: dict | None = None, bib: dict | None = None,
                 labels: dict | None = None, numbers: dict | None = None, profile: str | None = None):
        if lang not in LANGS:
            raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
        self.source, self.lang, self.words = Path(source), lang, _WORDS[lang]
        self.glue = glue or {}
        self.bib = read_bib() if bib is None else bib
        self.labels = read_labels(sorted(CHAPTERS.glob("*.md")) + sorted((ROOT / "book").glob("*.md")),
                                  lang) if labels is None else labels
        self.profile = profile
        self.equations: dict[str, int] = {}
        self.exercises: dict[str, int] = {}
        self._unlabelled = 0
        items, _ = _parse(self.source.read_text(encoding="utf-8").splitlines(), where=self.where())
        self._number(items)
        self._unlabelled = 0
        # the book numbers equations and exercises across all pages (its table of contents is not
        # numbered): a build passes its own numbers, and these per-chapter ones are the fallback
        for kind in ("equations", "exercises"):
            getattr(self, kind).update((numbers or {}).get(kind, {}))

    # numbers first, so that a reference before its target still resolves
    def _number(self, items) -> None:
        for item in items:
            if not isinstance(item, Directive):
                continue
            label = item.options.get("label")
            if item.name == "math" and label:
                self.equations[label] = len(self.equations) + 1
            elif item.name == "exercise":
                if not label:  # named as _directive names it, by its place among the unlabelled ones
                    self._unlabelled += 1
                    label = f"#{self._unlabelled}"
                self.exercises[label] = len(self.exercises) + 1
            if item.name not in ("math", "code-cell", "literalinclude"):
                self._number(item.body)

    def where(self) -> str:
        return self.source.name

    # ------------------------------------------------------------------ inline
    def inline(self, text: str) -> str:
        return _ROLE.sub(self._role, text)

    def _role(self, m: re.Match) -> str:
        role, content = m["role"], m["content"]
        if role in ("glue:text", "glue", "glue:md"):
            key, _, fmt = content.partition(":")
            return self._glue(key.strip(), fmt.strip(), markdown=role == "glue:md")
        if role == "eq":
            if content not in self.equations:
                raise ExportError(f"{self.where()}: {{eq}}`{content}` names no equation of this chapter")
            return f"({self.equations[content]})"
        if role == "cite" or role.startswith("cite:"):
            keys = [k.strip() for k in content.split(",") if k.strip()]
            missing = [k for k in keys if k not in self.bib]
            if missing:
                raise ExportError(f"{self.where()}: {{cite}} keys {missing} are not in references.bib")
            return "(" + "; ".join(self.bib[k] for k in keys) + ")"
        if role in ("term", "ref", "numref", "doc"):
            t = _TARGET.match(content)
            text, target = (t["text"], t["target"]) if t else (None, content)
            if role == "numref" or target in self.exercises:
                number = self.exercises.get(target)
                if number is None:
                    raise ExportError(f"{self.where()}: {{{role}}}`{content}` names no exercise of this chapter")
                return text.replace("%s", str(number)) if text else self._exercise_name(target)
            if text:
                return text
            if role == "ref":
                if target not in self.labels:
                    raise ExportError(f"{self.where()}: {{ref}}`{target}` names no labelled heading")
                return f"*{self.labels[target]}*"
            return target
        raise ExportError(f"{self.where()}: the role {{{role}}} has no plain-Markdown form in the exporter")

    def _glue(self, key: str, fmt: str, markdown: bool = False) -> str:
        data = (self.glue.get(key) or {}).get("data", {})
        if markdown and "text/markdown" in data:
            return self.inline(data["text/markdown"])
        if "text/plain" in data:
            from myst_nb.core.variables import format_plain_text  # the book's own formatting
            return format_plain_text(data["text/plain"], fmt)
        return f"`{key}`"

    # ------------------------------------------------------------------ blocks
    def markdown(self, text: str) -> str:
        items, _ = _parse(text.splitlines(), where=self.where())
        out = self._render(items)
        # runs of blank lines left by dropped targets and tabs, but not inside code blocks
        parts = re.split(r"(^```.*?^```[ \t]*$)", out, flags=re.S | re.M)
        out = "".join(p if i % 2 else re.sub(r"\n{3,}", "\n\n", p) for i, p in enumerate(parts))
        return out.strip("\n")

    def _render(self, items) -> str:
        parts = []
        for item in items:
            if isinstance(item, str):
                parts.append(self._line(item))
            elif isinstance(item, tuple):
                parts.append("\n".join(item[1]))
            else:
                parts.append(self._directive(item))
        return "\n".join(p for p in parts if p is not None)

    def _line(self, line: str) -> str | None:
        if _LABEL_LINE.match(line) or line.lstrip().startswith("% "):
            return None
        h = _HEADING.match(line)
        if h:
            return f"{h['hashes']} {self.inline(pick_side(h['title'], self.lang))}"
        return self.inline(line)

    def _directive(self, d: Directive) -> str:
        name = d.name
        if name == "tab-set":
            tabs = [t for t in d.body if isinstance(t, Directive) and t.name == "tab-item"]
            mine = [t for t in tabs if t.options.get("sync") == self.lang]
            if mine:
                return self._render(mine[0].body)
            return "\n\n".join(f"**{self.inline(t.arg)}**\n\n{self._render(t.body)}" for t in tabs)
        if name == "tab-item":
            return self._render(d.body)
        if name == "math":
            body = "\n".join(d.body).strip()
            if "\\\\" in body and "\\begin" not in body:
                body = f"\\begin{{aligned}}\n{body}\n\\end{{aligned}}"
            label = d.options.get("label")
            tag = f" \\tag{{{self.equations[label]}}}" if label else ""
            return f"\n$$\n{body}{tag}\n$$\n"
        if name == "literalinclude":
            return f"\n```python\n{self._include(d)}\n```\n"
        if name == "exercise":
            if not d.options.get("label"):
                self._unlabelled += 1
            label = d.options.get("label") or f"#{self._unlabelled}"
            title = f" · {self.inline(d.arg)}" if d.arg else ""
            return f"\n**{self._exercise_name(label)}{title}**\n\n{self._render(d.body)}\n"
        if name in ("solution", "solution-start"):
            number = self.exercises.get(d.arg.strip())
            if number is None:
                raise ExportError(f"{self.where()}:{d.line}: {{{name}}} {d.arg} names no exercise of this chapter")
            heading = self.words["solution"].format(n=number) if self.lang == "zh" else \
                f"{self.words['solution']} {number}"
            if name == "solution-start":
                return f"\n**{heading}**\n"
            return f"\n<details>\n<summary>{heading}</summary>\n\n{self._render(d.body)}\n\n</details>\n"
        if name == "solution-end":
            return f"\n*({self.words['end']})*\n" if self.lang == "en" else f"\n（{self.words['end']}）\n"
        if name == "dropdown":
            return f"\n<details>\n<summary>{self.inline(d.arg)}</summary>\n\n{self._render(d.body)}\n\n</details>\n"
        if name == "glue:md":
            key = d.arg.strip()
            data = (self.glue.get(key) or {}).get("data", {})
            return self.inline(data["text/markdown"]) if "text/markdown" in data else f"`{key}`"
        if name in ("note", "tip", "warning", "important", "caution", "attention", "hint", "seealso", "admonition"):
            title = self.inline(d.arg) if d.arg else name.capitalize()
            body = self._render(d.body)
            return "\n" + "\n".join("> " + l if l else ">" for l in [f"**{title}**", "", *body.splitlines()]) + "\n"
        raise ExportError(f"{self.where()}:{d.line}: the directive {{{name}}} has no plain-Markdown form in the "
                          "exporter; teach book/_ext/notebooks.py to render it")

    def _exercise_name(self, label: str) -> str:
        n = self.exercises[label]
        return f"{self.words['exercise']} {n}" if self.lang == "en" else f"练习{n}"

    def _include(self, d: Directive) -> str:
        # as Sphinx: a path starting with / is relative to the book's root, any other to the page
        path = (ROOT / d.arg.lstrip("/")) if d.arg.startswith("/") else (self.source.parent / d.arg)
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        if "pyobject" in d.options:
            node = ast.parse(source)
            for part in d.options["pyobject"].split("."):
                node = next((n for n in ast.iter_child_nodes(node) if getattr(n, "name", None) == part), None)
                if node is None:
                    raise ExportError(f"{self.where()}:{d.line}: {d.options['pyobject']} is not in {d.arg}")
            first = min([node.lineno] + [dec.lineno for dec in getattr(node, "decorator_list", [])])
            lines = lines[first - 1:node.end_lineno]
        if "start-at" in d.options:
            at = next((i for i, l in enumerate(lines) if d.options["start-at"] in l), None)
            if at is None:
                raise ExportError(f"{self.where()}:{d.line}: start-at {d.options['start-at']!r} not found")
            lines = lines[at:]
        for option, keep in (("end-at", 1), ("end-before", 0)):  # as Sphinx: the first match after the start
            if option in d.options:
                at = next((i for i, l in enumerate(lines) if d.options[option] in l), None)
                if at is None:
                    raise ExportError(f"{self.where()}:{d.line}: {option} {d.options[option]!r} not found")
                lines = lines[:at + keep]
        text = "\n".join(lines)
        if "dedent" in d.options:  # Sphinx dedents only when asked: by N columns, or all common space
            n = d.options["dedent"]
            if n in (None, ""):
                text = textwrap.dedent(text)
            else:
                n = int(n)
                text = "\n".join(l[n:] if l[:n].strip() == "" else l for l in text.splitlines())
        if "prepend" in d.options:
            text = d.options["prepend"] + "\n" + text
        return text.rstrip()

    # ------------------------------------------------------------------ the notebook
    def notebook(self):
        """The chapter as an ``nbformat`` v4 notebook in this exporter's language."""
        import jupytext
        import nbformat

        nb = jupytext.reads(self.source.read_text(encoding="utf-8"), fmt="md:myst")
        cells = [self._first_markdown(nb), self._first_code()]
        for cell in nb.cells:
            tags = cell.metadata.get("tags", [])
            if "remove-cell" in tags:
                continue
            if cell.cell_type == "markdown":
                text = self.markdown(cell.source)
                if text.strip():
                    cells.append(nbformat.v4.new_markdown_cell(text))
            elif cell.cell_type == "code":
                source = cell.source
                # indenting a triple-quoted string would change it: such a cell stays as written
                if "raises-exception" in tags and '"""' not in source and "'''" not in source:
                    source = ("try:\n" + textwrap.indent(source, "    ") +
                              "\nexcept Exception as error:  # the book shows this error on purpose\n"
                              "    print(f\"{type(error).__name__}: {error}\")")
                keep = [t for t in tags if t not in ("raises-exception",)]
                cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": keep} if keep else {}))
        out = nbformat.v4.new_notebook(cells=cells)
        out.metadata = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                       "name": "python3"},
                        "language_info": {"name": "python"}}
        nbformat.validate(out)
        return out

    def _first_markdown(self, nb):
        import nbformat

        name = self.source.name
        if self.lang == "en":
            numbers = (f"The numbers quoted in the text are those of the book's build ({self.profile} profile); the "
                       "cells below recompute them." if self.glue else
                       "Where the book's text quotes a number of its run, this copy names the variable in code "
                       "(`chNN_...`); the cell that computes it shows the value.")
            text = (f"*Exported from `chapters/{name}` of the course **Autoencoders, Boltzmann Machines and Deep "
                    f"Belief Networks**, English text only. {numbers} The next cell checks that the course's "
                    "package `companion` is installed.*")
        else:
            zh_profile = {"quick": "快速配置", "full": "完整配置"}.get(self.profile or "", self.profile)
            numbers = (f"正文中引用的数字取自本书构建时（{zh_profile}）的运行结果，运行下面的代码单元会重新算出它们。"
                       if self.glue else "正文中引用运行结果的地方，这份副本写的是变量名（`chNN_...`），"
                       "算出它的代码单元运行后会显示其值。")
            text = (f"本笔记本由课程《自编码器、玻尔兹曼机与深度信念网络》的`chapters/{name}`导出，只含中文正文。"
                    f"{numbers}下一个单元检查是否已安装本课程的软件包`companion`。")
        return nbformat.v4.new_markdown_cell(text)

    def _first_code(self):
        import nbformat

        return nbformat.v4.new_code_cell(
            "# The chapter needs the course's package `companion`, installed from a clone of the course.\n"
            "try:\n"
            "    import companion  # noqa: F401\n"
            "except ImportError as exc:\n"
            "    raise ImportError(\n"
            "        \"this notebook needs the course's package `companion`: in a clone of the course run \"\n"
            "        \"`pip install -e .` (or `pip install -r requirements.txt` for everything the book uses), \"\n"
            "        \"then restart the kernel. The PyPI project called 'companion' is unrelated: do not \"\n"
            "        \"`pip install companion`.\") from exc\n"
            "try:  # the book pastes numbers into its text with myst_nb.glue; here glue only shows them\n"
            "    import myst_nb  # noqa: F401\n"
            "except ImportError:\n"
            "    import sys, types\n"
            "    from IPython.display import display as _display\n"
            "    _shim = types.ModuleType(\"myst_nb\")\n"
            "    _shim.glue = lambda name, value, display=True: _display(value) if display else None\n"
            "    sys.modules[\"myst_nb\"] = _shim\n"
            "print(\"companion\", companion.__version__, \"is ready\")")


def export(source: Path, lang: str, glue: dict | None = None, **kwargs):
    """The chapter ``source`` (a MyST ``.md``) as a plain notebook in ``lang`` ("en" or "zh")."""
    return Exporter(source, lang, glue=glue, **kwargs).notebook()


# ---------------------------------------------------------------------------------------------- Sphinx
def _is_chapter(docname: str) -> bool:
    return docname.startswith("chapters/")


def _write_notebooks(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    import nbformat

    out = Path(app.outdir) / OUTPUT_DIR
    out.mkdir(parents=True, exist_ok=True)
    executed = Path(app.outdir).parent / "jupyter_execute"
    bib = read_bib()
    import companion

    profile = companion.profile()
    for lang in LANGS:
        labels = read_labels(sorted(CHAPTERS.glob("*.md")) + sorted((ROOT / "book").glob("*.md")), lang)
        for docname in sorted(d for d in app.env.found_docs if _is_chapter(d)):
            glue_file = executed / (docname + ".glue.json")
            glue = json.loads(glue_file.read_text(encoding="utf-8")) if glue_file.exists() else {}
            nb = export(Path(app.srcdir) / (docname + ".md"), lang, glue=glue, bib=bib, labels=labels,
                        numbers=_book_numbers(app.env, docname), profile=profile)
            nbformat.write(nb, out / f"{Path(docname).name}.{lang}.ipynb")


def _book_numbers(env, docname: str) -> dict:
    """The equation and exercise numbers Sphinx gave this page (``{"equations": {label: n}, ...}``)."""
    found = getattr(env, "toc_fignumbers", {}).get(docname, {})

    def first(number):
        return number[0] if isinstance(number, (tuple, list)) and len(number) == 1 else ".".join(map(str, number))

    return {"equations": {k.removeprefix("equation-"): first(v) for k, v in found.get("displaymath", {}).items()},
            "exercises": {k: first(v) for k, v in found.get("exercise", {}).items()}}


def _download_buttons(app, pagename, templatename, context, doctree) -> None:
    if not _is_chapter(pagename):
        return
    for group in context.get("header_buttons", []):
        if group.get("label") == "download-buttons":
            name = Path(pagename).name
            group["buttons"][:0] = [
                {"type": "link", "url": context["pathto"](f"{OUTPUT_DIR}/{name}.{lang}.ipynb", 1),
                 "text": f".ipynb ({_WORDS[lang]['lang']})", "tooltip": f"notebook ({_WORDS[lang]['lang']})",
                 "icon": "fas fa-code", "label": f"download-notebook-{lang}-button"}
                for lang in LANGS]


def setup(app):
    app.connect("build-finished", _write_notebooks)
    # after sphinx-book-theme has built its download menu (priority 501)
    app.connect("html-page-context", _download_buttons, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
