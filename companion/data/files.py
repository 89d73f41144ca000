"""File helpers shared by the data loaders: nothing half-written is ever left behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(target: Path, payload: bytes) -> None:
    """Write ``payload`` to ``target`` through a temporary file in the same folder.

    The rename is atomic, so an interrupted write leaves either the old file
    or none, never a truncated one.
    """
    target = Path(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
