"""Files that are either the old or the new version, never half of one, even under kill -9.

A write goes to a temporary file beside the destination (``.NAME.<random>.tmp``), is
flushed and fsynced, and then renamed over it; the directory entry is fsynced too. A
kill during the write leaves the previous file and a stale temporary file, which
`remove_stale_temps` deletes at the next start.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "remove_stale_temps"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any]) -> Path:
    """Write `path` atomically: ``write(binary_file)`` fills a temp file that replaces it.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "out.txt"
    >>> atomic_write(path, lambda f: f.write(b"hello")).read_text()
    'hello'
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_directory(directory)
    return path


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Make a rename in `directory` durable (POSIX); harmless where unsupported."""
    try:
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # pragma: no cover - platform dependent
        pass


def remove_stale_temps(path: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files that interrupted `atomic_write` calls of `path` left.

    Returns
    -------
    list of pathlib.Path
        The files removed.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "checkpoint.npz"
    >>> _ = (path.parent / ".checkpoint.npz.k2j4.tmp").write_bytes(b"partial")
    >>> [p.name for p in remove_stale_temps(path)]
    ['.checkpoint.npz.k2j4.tmp']
    """
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            tmp.unlink()
            removed.append(tmp)
        except FileNotFoundError:  # pragma: no cover - removed concurrently
            pass
    return removed
