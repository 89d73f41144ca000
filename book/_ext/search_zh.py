"""Search in both languages: Sphinx's Chinese index (jieba) that also finds the course's terms inside longer words.

Sphinx's ``zh`` search segments Chinese with jieba's search mode and keeps English words (stemmed), so
"autoencoder" and 编码器 are both found. Search mode adds only the two- and three-character words inside a
longer one, so a reader typing 玻尔兹曼 or 自编码器 would miss 受限玻尔兹曼机 and 变分自编码器. This splitter
also indexes every course term (``book/_search/zh_terms.txt``, the glossary's Chinese names) found inside
a longer token. The page's query is one term, looked up exactly, so this is what makes such searches work.
"""

from __future__ import annotations

from pathlib import Path

import sphinx.search
from sphinx.search.zh import SearchChinese

TERMS_FILE = Path(__file__).resolve().parents[1] / "_search" / "zh_terms.txt"


class CourseChinese(SearchChinese):
    """Jieba's search-mode words, the English words, and the course terms inside longer Chinese words."""

    def init(self, options: dict[str, str]) -> None:
        super().init({**options, "dict": str(TERMS_FILE)})
        self.terms = [t for t in TERMS_FILE.read_text(encoding="utf-8").split() if len(t) >= 2]

    def split(self, input: str) -> list[str]:
        words = super().split(input)
        inner = [term for word in words if len(word) >= 4 for term in self.terms if term in word and term != word]
        return words + inner


def setup(app):
    sphinx.search.languages["zh"] = CourseChinese
    return {"parallel_read_safe": True, "parallel_write_safe": True}
