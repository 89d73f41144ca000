"""pytest plugin: collect every chapter (MyST Markdown notebook) for nbval.

nbval reads ``.ipynb`` files from disk; the chapters are ``.md`` files, so a
subclass of its collector converts them with jupytext at collection time.
Chapters have no stored outputs, so outputs are not compared: each chapter
asserts its own results in cells instead. Loaded with ``-p tests.nbval_chapters``
(see pyproject.toml), because a conftest in tests/ would not see chapters/.
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import jupytext
import nbval.plugin

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"


class MarkdownNotebook(nbval.plugin.IPyNbFile):
    """An nbval notebook read from a jupytext MyST ``.md`` file."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.compare_outputs = False

    def collect(self):
        notebook = jupytext.read(str(self.path))
        notebook.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3"})
        with mock.patch.object(nbval.plugin.nbformat, "read", lambda *a, **k: notebook):
            return list(super().collect())


def pytest_collect_file(file_path: Path, parent):
    if (
        file_path.suffix == ".md"
        and file_path.parent == CHAPTERS
        and "_build" not in file_path.parts
    ):
        return MarkdownNotebook.from_parent(parent, path=file_path)
    return None
