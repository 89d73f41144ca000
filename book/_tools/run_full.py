"""Execute chapters in the full profile and record what each one glued: ``results/chapters/NN.json``.

``make book-full`` runs this. Each chapter executes as a learner's notebook would
(myst-nb's reader, one fresh kernel, ``COMPANION_PROFILE=full``) against the
official MNIST, and every scalar it passes to ``glue`` is written, with the
reproductions' provenance keys (commit, dirty, device, torch, data_md5,
wall_seconds, date, command), to one JSON record per chapter, which the quick
book shows beside its own values.

A record names the code that produced it, so the runner refuses a checkout with
uncommitted changes (run it from a worktree at a committed HEAD, as the
reproductions are run). A chapter whose record already names this commit is
skipped, so an interrupted run continues where it stopped; ``--force`` runs it
again. The executed notebooks are kept in ``_build/full/`` for reading what the
chapter printed.

Usage: ``python book/_tools/run_full.py [CHAPTER.md ...] [--out results/chapters] [--force]``.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import nbformat

REPO = Path(__file__).resolve().parents[2]
RECORD_KEYS = ("chapter", "profile", "values", "provenance")
_NUMPY_SCALAR = re.compile(r"^np\.(?:float|int|uint|bool_?)\d*\((.*)\)$")


def chapter_number(path: str | os.PathLike) -> str:
    """``"02"`` for ``chapters/02_autoencoders.md``; a ValueError for a name without its two digits."""
    name = Path(path).name
    if not re.match(r"^\d\d_", name):
        raise ValueError(f"{name!r} is not a chapter file: chapters are named NN_topic.md (e.g. 02_autoencoders.md)")
    return name[:2]


def parse_plain(text: str) -> Any:
    """The Python value behind a glued output's ``text/plain``, or the text itself.

    Floats, ints, strings, bools, lists and numpy scalars (``np.float64(0.5)``) are
    read back; anything else (an array's repr, a figure's caption) stays a string.
    """
    match = _NUMPY_SCALAR.match(text.strip())
    if match:
        text = match.group(1)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def glued_values(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """Every ``glue(name, value)`` in an executed notebook, as ``{name: value}``.

    myst-nb marks a glued output with ``metadata.scrapbook.name``; a glued ``Markdown``
    is kept as its text, figures are left out (their images are not values).
    """
    values: dict[str, Any] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            mark = output.get("metadata", {}).get("scrapbook", {})
            if "name" not in mark:
                continue
            # display=False stores the data under a prefixed MIME type ("application/papermill.record/")
            data = {key.removeprefix(mark.get("mime_prefix", "")): v for key, v in output.get("data", {}).items()}
            if any(key.startswith("image/") for key in data):
                continue
            if "text/markdown" in data:  # glue(name, Markdown(...)): the text, for {glue:md}
                values[mark["name"]] = data["text/markdown"]
            elif "text/plain" in data:
                values[mark["name"]] = parse_plain(data["text/plain"])
    return values


def code_state() -> tuple[str, bool]:
    """``(commit, dirty)`` of this checkout, the records it writes left out of "dirty".

    The records are tracked files, so without that exclusion a run would call itself dirty
    after its first chapter and refuse to resume. ``COMPANION_COMMIT`` wins, as in the reproductions.
    """
    import subprocess

    from companion.reproduce.runner import code_state as reproduction_state

    if os.environ.get("COMPANION_COMMIT"):
        return reproduction_state(REPO)
    commit, _ = reproduction_state(REPO)
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                             ":(exclude)results/chapters"], cwd=REPO, capture_output=True, text=True)
    return commit, status.returncode != 0 or bool(status.stdout.strip())


def _provenance(seconds: float, command: str, commit: str, dirty: bool) -> dict[str, Any]:
    import torch

    from companion.reproduce.runner import describe_device, find_data, idx_md5

    return {
        "commit": commit,
        "dirty": dirty,
        "device": describe_device(torch.device("cuda" if torch.cuda.is_available() else "cpu")),
        "torch": torch.__version__,
        "data_md5": idx_md5(find_data(None)),
        "wall_seconds": round(seconds, 1),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
    }


def _data_root(root: Path, mnist: Path) -> Path:
    """A data root whose ``mnist`` links to the official idx files and whose ``pip`` is the usual wheel cache."""
    root.mkdir(parents=True, exist_ok=True)
    cache = Path.home() / ".cache" / "companion" / "pip"
    cache.mkdir(parents=True, exist_ok=True)
    for name, target in (("mnist", mnist.resolve()), ("pip", cache)):
        link = root / name
        if link.is_symlink() and link.resolve() != target:
            link.unlink()
        if not link.exists():
            link.symlink_to(target, target_is_directory=True)
    return root


def run_chapter(path: Path, timeout: int) -> tuple[nbformat.NotebookNode, float, BaseException | None]:
    """Execute one chapter in a fresh kernel in the full profile; the notebook, seconds and any error."""
    from jupyter_cache.executors.utils import single_nb_execution
    from myst_nb.core.read import myst_nb_reader_plugin

    nb = myst_nb_reader_plugin(str(path))
    start = time.perf_counter()
    try:
        result = single_nb_execution(nb, cwd=str(path.parent), allow_errors=False, timeout=timeout,
                                     meta_override=True)
    except Exception as exc:  # a dead kernel (killed, out of memory) is raised, not returned
        return nb, time.perf_counter() - start, exc
    return nb, result.time, result.err


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="MyST chapters (default: chapters/*.md)")
    parser.add_argument("--out", default=str(REPO / "results" / "chapters"))
    parser.add_argument("--notebooks", default=str(REPO / "_build" / "full"),
                        help="where the executed notebooks are kept")
    parser.add_argument("--timeout", type=int, default=7200, help="seconds per cell")
    parser.add_argument("--force", action="store_true", help="run chapters whose record names this commit")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="run from uncommitted code (the records say dirty: true; for trying the runner only)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO))
    from companion.reproduce.runner import find_data
    from companion.utils import write_atomic

    chapters = [Path(p) for p in args.chapters] or sorted((REPO / "chapters").glob("[0-9][0-9]_*.md"))
    for path in chapters:
        chapter_number(path)
        if not path.is_file():
            parser.error(f"no chapter at {path}")
    commit, dirty = code_state()  # once: the records this run writes must not make the next one "dirty"
    if dirty and not args.allow_dirty:
        parser.error("the checkout has uncommitted changes, so a record could not name the code that made it: "
                     "commit first, or run from a worktree (git worktree add ../wt-full HEAD)")
    # the official MNIST must be there before an hour of work starts; the kernels read it through a data root
    # of their own (a link to it), so that what they fetch (MovieLens' offline copy) never lands beside it
    data = find_data(None)
    if "COMPANION_DATA" not in os.environ:
        os.environ["COMPANION_DATA"] = str(_data_root(Path(args.notebooks) / "data", data))
    os.environ["COMPANION_PROFILE"] = "full"
    # the kernels import this checkout's companion, even where the environment's editable install points to another
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    os.environ.setdefault("TQDM_DELAY", "86400")
    os.environ.setdefault("IPYTHONDIR", str(REPO / "book" / "_ipython"))
    out, notebooks = Path(args.out), Path(args.notebooks)
    failed = 0
    for path in chapters:
        number = chapter_number(path)
        target = out / f"{number}.json"
        if target.is_file() and not args.force:
            old = json.loads(target.read_text())
            if old.get("provenance", {}).get("commit") == commit and not old["provenance"].get("dirty"):
                print(f"full: {path.name} already recorded at {commit[:7]}; skipped", flush=True)
                continue
        print(f"full: executing {path.name} ({time.strftime('%H:%M:%S')})", flush=True)
        nb, seconds, error = run_chapter(path, args.timeout)
        write_atomic(notebooks / f"{number}.ipynb", nbformat.writes(nb).encode())
        if error is not None:
            failed += 1
            last = str(error).strip().splitlines()[-1:] or [""]
            print(f"full: {path.name} FAILED after {seconds:.0f} s: {type(error).__name__}: {last[0]} "
                  f"(the executed notebook is {notebooks / f'{number}.ipynb'})", flush=True)
            continue
        record = {
            "chapter": number,
            "profile": "full",
            "values": glued_values(nb),
            "provenance": _provenance(seconds, f"make book-full CHAPTERS=chapters/{path.name}", commit, dirty),
        }
        write_atomic(target, (json.dumps(record, indent=1, ensure_ascii=False) + "\n").encode())
        print(f"full: {path.name} in {seconds:.0f} s, {len(record['values'])} values -> {target}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
