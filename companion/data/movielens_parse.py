"""Parsers for the MovieLens file layouts: ml-100k, ml-1m and the recbole copy of ml-100k.

Every parser returns a fresh DataFrame and raises :class:`MovieLensFormatError`
naming the file and the line when a file does not follow its layout.
:mod:`companion.data.movielens` decides where the files come from.
"""

from __future__ import annotations

import io
import re
import types
import warnings
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas is imported on first parse: `import companion` stays fast
    import pandas as pd

_GENRES_1M = (
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War",
    "Western",
)  # fmt: skip
# read-only, because the parsers rely on this order matching the files' flag columns
GENRES = types.MappingProxyType({"100k": ("unknown",) + _GENRES_1M, "1m": _GENRES_1M})

COLUMNS = ("user_id", "item_id", "rating", "timestamp")
_INTER_HEADER = ("user_id:token", "item_id:token", "rating:float", "timestamp:float")
_ITEM_HEADER = ("item_id:token", "movie_title:token_seq", "release_year:token", "class:token_seq")


class MovieLensFormatError(ValueError):
    """A MovieLens file that does not follow the official layout."""


# --- parsing ---------------------------------------------------------------------------------


def _fail(name: str, lineno: int, message: str) -> MovieLensFormatError:
    return MovieLensFormatError(
        f"{name}, line {lineno}: {message}. The file is damaged or not in the official layout: "
        "fix that line or fetch the file again."
    )


def _is_count(value: str) -> bool:
    # isascii: str.isdigit alone also accepts digits like '²' that int() rejects
    return value.isascii() and value.isdigit()


def _positive_id(value: str, name: str, lineno: int, what: str) -> int:
    value = value.strip()
    if not _is_count(value) or int(value) < 1:
        raise _fail(name, lineno, f"{what} {value!r} is not a positive integer")
    return int(value)


def _first_line(text: str, name: str, header: tuple[str, ...] | None) -> int:
    """Check recbole's header line, if the format has one; the number of the first data line."""
    if header is None:
        return 1
    found = tuple(text.split("\n", 1)[0].split("\t"))
    if found != header:
        raise _fail(name, 1, f"expected the header {chr(9).join(header)!r}, found {chr(9).join(found)!r}")
    return 2


def _lines(text: str, name: str, sep: str, n_fields: int, layout: str, first: int):
    """Yield (line number, fields) for every non-blank line from ``first`` on, after checking the field count."""
    for lineno, line in enumerate(text.split("\n")[first - 1 :], start=first):
        if not line.strip():
            continue
        fields = line.split(sep)
        if len(fields) != n_fields:
            found = f"found {len(fields)}: {line!r}"
            raise _fail(name, lineno, f"expected {n_fields} fields ({layout}) separated by {sep!r}, {found}")
        yield lineno, fields


_RATING_CHECKS = (
    ("user id", lambda v: v >= 1, "is not a positive integer"),
    ("item id", lambda v: v >= 1, "is not a positive integer"),
    ("rating", lambda v: 1 <= v <= 5, "is not an integer from 1 to 5"),
    ("timestamp", lambda v: v >= 0, "is not a non-negative integer (seconds since 1970)"),
)


def _explain_ratings(text: str, name: str, sep: str, layout: str, first: int, cause: Exception | None):
    """Find the first malformed ratings line and raise an error naming it (the slow path, errors only)."""
    for lineno, fields in _lines(text, name, sep, 4, layout, first):
        for value, (what, ok, problem) in zip(fields, _RATING_CHECKS):
            value = value.strip()
            if not _is_count(value) or not ok(int(value)):
                raise _fail(name, lineno, f"{what} {value!r} {problem}")
    raise MovieLensFormatError(f"{name}: could not be read as {layout} ({cause}).")


def _parse_ratings(text: str, name: str, sep: str, layout: str, header=None) -> pd.DataFrame:
    """Four int64 columns; numpy's C reader does the work, a Python scan explains any error."""
    first = _first_line(text, name, header)
    # the fields hold nothing but digits, so '::' can become the one-character delimiter loadtxt needs
    body = text if sep == "\t" else text.replace(sep, "\t")
    if re.search(r"^[ \t]+$", body, flags=re.MULTILINE):
        # loadtxt skips empty lines but not blank ones; the slow path (line numbers) skips both
        body = "\n".join(line for line in body.split("\n") if line.strip())
    table, cause = None, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # loadtxt warns on an empty file; that is reported below
            table = np.loadtxt(
                io.StringIO(body), dtype=np.int64, delimiter="\t", skiprows=first - 1, ndmin=2, comments=None
            )
    except (ValueError, OverflowError) as exc:
        cause = exc
    if table is not None and table.size == 0:
        raise MovieLensFormatError(f"{name} holds no ratings; expected lines of {layout}.")
    if table is None or table.shape[1] != 4:
        _explain_ratings(text, name, sep, layout, first, cause)
    bad = (table[:, :2] < 1).any(axis=1) | (table[:, 2] < 1) | (table[:, 2] > 5) | (table[:, 3] < 0)
    if bad.any():
        _explain_ratings(text, name, sep, layout, first, None)
    import pandas as pd

    return pd.DataFrame({column: table[:, j].copy() for j, column in enumerate(COLUMNS)})


_TITLE_YEAR = re.compile(r"(.*\S)\s*\((\d{4})\)\s*")
_DATE_YEAR = re.compile(r".*?(\d{4})\s*")


def _split_title(title: str) -> tuple[str, int | None]:
    """``'Toy Story (1995)'`` -> ``('Toy Story', 1995)``; a title without a year is kept whole."""
    match = _TITLE_YEAR.fullmatch(title)
    if match is None:
        return title.strip(), None
    return match.group(1), int(match.group(2))


def _genre_columns(tokens: list[str], version: str, name: str, lineno: int) -> list[int]:
    known = GENRES[version]
    for token in tokens:
        if token not in known:
            raise _fail(name, lineno, f"genre {token!r} is none of {', '.join(known)}")
    return [known.index(token) for token in tokens]


def _u_item_row(fields: list[str], name: str, lineno: int):
    flags = [value.strip() for value in fields[5:]]
    if any(value not in ("0", "1") for value in flags):
        raise _fail(name, lineno, f"genre flags must be 0 or 1, found {'|'.join(flags)!r}")
    title, year = _split_title(fields[1])
    if year is None and (match := _DATE_YEAR.fullmatch(fields[2])):
        year = int(match.group(1))  # release date '01-Jan-1995'
    return title, year, [j for j, value in enumerate(flags) if value == "1"]


def _movies_dat_row(fields: list[str], name: str, lineno: int):
    title, year = _split_title(fields[1])
    tokens = [token.strip() for token in fields[2].split("|") if token.strip()]
    return title, year, _genre_columns(tokens, "1m", name, lineno)


def _recbole_item_row(fields: list[str], name: str, lineno: int):
    # item 267 is 'unknown' in u.item; recbole spells it 'unkonwn', as title and as year
    title, year = _split_title("unknown" if fields[1].strip() == "unkonwn" else fields[1])
    if re.fullmatch(r"\d{4}", fields[2].strip()):
        year = int(fields[2])
    return title, year, _genre_columns(fields[3].split() or ["unknown"], "100k", name, lineno)


# items layout: (version, separator, field count, layout in words, header, row parser)
_ITEM_LAYOUTS = {
    "u.item": ("100k", "|", 24, "id|title|release date|video release date|IMDb URL|19 genre flags", None, _u_item_row),
    "movies.dat": ("1m", "::", 3, "MovieID::Title::Genres", None, _movies_dat_row),
    "recbole": ("100k", "\t", 4, "item_id, movie_title, release_year, class", _ITEM_HEADER, _recbole_item_row),
}


def _parse_items(text: str, name: str, layout: str) -> pd.DataFrame:
    version, sep, n_fields, words, header, parse_row = _ITEM_LAYOUTS[layout]
    rows, seen = [], {}
    for lineno, fields in _lines(text, name, sep, n_fields, words, _first_line(text, name, header)):
        item_id = _positive_id(fields[0], name, lineno, "movie id")
        if item_id in seen:
            raise _fail(name, lineno, f"movie id {item_id} appears again (first on line {seen[item_id]})")
        seen[item_id] = lineno
        rows.append((item_id, *parse_row(fields, name, lineno)))
    if not rows:
        raise MovieLensFormatError(f"{name} holds no movies; expected lines of {words}.")
    import pandas as pd

    ids, titles, years, genre_columns = zip(*rows)
    flags = np.zeros((len(rows), len(GENRES[version])), dtype=np.uint8)
    for row, columns in enumerate(genre_columns):
        flags[row, columns] = 1
    frame = {"item_id": np.array(ids, dtype=np.int64), "title": list(titles)}
    frame["year"] = pd.array(list(years), dtype="Int64")
    frame.update({genre: flags[:, j] for j, genre in enumerate(GENRES[version])})
    return pd.DataFrame(frame)


def _decode(payload: bytes, encoding: str) -> str:
    # universal newlines, as text-mode open() would give, so '\r' never ends up in a field
    return payload.decode(encoding).replace("\r\n", "\n").replace("\r", "\n")


