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
import secrets
from collections.abc import Iterator
from pathlib import Path


def _create_temp(target: Path) -> tuple[int, str]:
    """A new, empty, uniquely named file beside ``target``, opened for writing: ``(fd, name)``.

    Created with ``O_EXCL`` (never an existing file or a planted link) and mode ``0o666`` less the
    umask, the mode a plain ``open()`` would give the target.
    """
    folder = target.parent
    for _ in range(100):
        name = os.path.join(folder, f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), name
        except FileExistsError:
            continue
        except FileNotFoundError:
            folder.mkdir(parents=True, exist_ok=True)
    raise FileExistsError(f"no free temporary name beside {target}")


@contextlib.contextmanager
def atomic_path(target: Path, *, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on a clean exit it replaces ``target`` atomically.

    For writers that insist on a file name (zip, SQLite): write the whole file at the yielded path.
    ``durable=False`` skips the fsyncs (about 5 ms a file): still atomic for every reader, but a power
    loss may leave an empty or partial file. Only for files whose reader validates them and can
    rebuild them (result cache entries).
    """
    target = Path(target)
    fd, tmp_name = _create_temp(target)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if durable:
        _fsync_dir(target.parent)


def write_bytes(target: Path, data: bytes, *, durable: bool = True) -> Path:
    """``data`` as the whole of ``target``, atomically (see the module's docstring)."""
    target = Path(target)
    fd, tmp = _create_temp(target)  # written through its descriptor: no second open
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(target.parent)
    return target


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
