"""Execute the chapters two at a time into myst-nb's execution cache, before the Sphinx build.

``make book`` runs this first. myst-nb (``execute_notebooks: cache``) executes
each page while Sphinx reads it, one after the other; on a 2-core machine a
chapter's small models keep torch's two threads mostly waiting on Python, so
running two chapters at once, each kernel on one thread, takes about two thirds
of the time. Each chapter is read exactly as myst-nb reads it (its jupyter-cache
reader), so the Sphinx build that follows finds every executed notebook in the
cache by the hash of its code cells and executes nothing again.

A chapter already in the cache is skipped. A chapter that fails here is not
cached: the Sphinx build then executes it itself and reports the error with
its traceback, as it would without this step.

Usage: ``python book/_tools/prerun_chapters.py CACHE_DIR CHAPTER.md ...`` (``--jobs N``, default 2).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat


def _execute(path: str, text: str, timeout: int) -> tuple[str, str | None, float, str | None]:
    """Run one chapter (its notebook as JSON ``text``) in a fresh kernel limited to one thread.

    Returns (path, executed notebook JSON or None, seconds, error).
    """
    # the kernel inherits this environment: one thread each, so two kernels share two cores without spinning
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    from jupyter_cache.executors.utils import single_nb_execution

    nb = nbformat.reads(text, as_version=4)
    result = single_nb_execution(nb, cwd=str(Path(path).parent), allow_errors=False, timeout=timeout,
                                 meta_override=True)
    if result.err is not None:
        return path, None, result.time, f"{type(result.err).__name__}: {str(result.err).strip().splitlines()[-1:]}"
    return path, nbformat.writes(nb), result.time, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", help="myst-nb's execution cache (execute.cache in _config.yml)")
    parser.add_argument("chapters", nargs="+", help="MyST notebooks to execute")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell, as execute.timeout")
    args = parser.parse_args(argv)

    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from myst_nb.core.read import myst_nb_reader_plugin

    cache = get_cache(args.cache)
    todo = {}  # path -> the notebook as myst-nb reads it, read once
    for path in map(str, args.chapters):
        nb = myst_nb_reader_plugin(path)
        try:
            cache.match_cache_notebook(nb)
        except KeyError:
            todo[path] = nbformat.writes(nb)
    if not todo:
        print("prerun: every chapter is in the execution cache")
        return 0
    # longest first, so that the two workers finish together (the source's size is a fair proxy)
    order = sorted(todo, key=lambda p: Path(p).stat().st_size, reverse=True)
    print(f"prerun: executing {len(todo)} chapters, {args.jobs} at a time", flush=True)
    start, failed = time.perf_counter(), 0
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(_execute, p, todo[p], args.timeout) for p in order]
        for future in as_completed(futures):
            path, text, seconds, error = future.result()
            if error is not None:
                failed += 1
                print(f"prerun: {path} failed after {seconds:.0f} s ({error}); the build will run it again",
                      flush=True)
                continue
            cache.cache_notebook_bundle(CacheBundleIn(nbformat.reads(text, as_version=4), str(Path(path).resolve()),
                                                      data={"execution_seconds": seconds}),
                                        check_validity=False, overwrite=True)
            print(f"prerun: {path} in {seconds:.0f} s", flush=True)
    print(f"prerun: {len(todo) - failed} of {len(todo)} chapters cached in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
