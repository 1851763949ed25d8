"""Atomic file writes: a reader sees the old complete file or the new complete one, never a part.

Every file tnquiz writes (cards.json, the .apkg files, quiz.html, the build stamp, cache entries, the
highlight memo, review exports) goes through this module. A write goes to a uniquely named temporary
file beside the target, is flushed to disk, then renamed over the target; a failure or a kill at
any point leaves the target as it was and no temporary file behind (a kill -9 may leave a hidden
``.NAME.*.tmp``, which no reader opens).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _read_umask() -> int:
    """The process umask, read once at import (setting and restoring it is not thread-safe)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_path(target: Path, *, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on a clean exit it replaces ``target`` atomically.

    For writers that insist on a file name (zip, SQLite): write the whole file at the yielded path.
    ``durable=False`` skips the fsyncs (about 5 ms a file): still atomic for every reader, but a power
    loss may leave an empty or partial file. Only for files whose reader validates them and can
    rebuild them (result cache entries).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600: give the file the mode a plain open() would
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
        if durable:
            _fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes(target: Path, data: bytes, *, durable: bool = True) -> Path:
    with atomic_path(target, durable=durable) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: Path, text: str, *, durable: bool = True) -> Path:
    """UTF-8; what UTF-8 cannot encode (a lone surrogate from a card's output) is escaped, never fatal."""
    return write_bytes(target, text.encode("utf-8", errors="backslashreplace"), durable=durable)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be opened or synced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
