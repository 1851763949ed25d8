"""Each card's rendered pieces, kept between builds: a one-card edit renders one card.

A piece is what one renderer makes of one card: its Anki note's fields, its JSON in the HTML page,
its entry in ``cards.json``. The writers assemble their outputs from pieces only (the same code with
or without a memo), and each piece is stored under a key that hashes everything it is made from:
the built card (``BuiltCard.to_dict``), the piece's kind and the ``salt`` (the renderer's code and
libraries, the templates, the deck's torch version: ``render.piece_salt``). An entry is therefore
either what rendering the card now would give, or never looked up.

The memo file (``render.json`` beside the result cache; ``tnquiz cache clear`` removes it) is
hostile input: an entry is used only when it has the shape its kind has and its checksum (over its
key and its content) matches; anything else is a miss, and the piece is rendered again. A save
keeps only the entries the last render used, so the file holds one deck's pieces.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from generator.model import BuiltCard

#: Bumped when the file's layout changes (a file of another format is ignored whole).
MEMO_FORMAT = 1

#: A memo file larger than this is not read (the bundled deck's is about 3 MB).
MAX_BYTES = 256 << 20

#: Entries read from each memo file, once per path and process; replaced by what a save writes.
_files: dict[Path, dict[str, Any]] = {}


def load(path: Path) -> None:
    """Read the memo file at ``path`` (once per path and process). Entries are checked when used."""
    if path in _files:
        return
    entries: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError, RecursionError):  # missing or unreadable: a miss
        data = json.loads(path.read_text(encoding="utf-8")) if path.stat().st_size <= MAX_BYTES else None
        if isinstance(data, dict) and data.get("format") == MEMO_FORMAT and isinstance(data.get("entries"), dict):
            entries = data["entries"]
    _files[path] = entries


def _checksum(key: str, parts: list[str]) -> str:
    """A hash of an entry's key and content (the parts' lengths first: unambiguous)."""
    text = f"{key}\x00{','.join(str(len(p)) for p in parts)}\x00{''.join(parts)}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class Pieces:
    """The pieces of one render: looked up in the memo file at ``path`` (None: no memo, every piece
    is rendered), rendered on a miss. ``salt`` names everything but the card a piece depends on."""

    def __init__(self, salt: str, path: Path | None = None,
                 texts: Iterable[tuple[BuiltCard, str]] = ()) -> None:
        """``texts``: cards with their ``to_dict`` as compact JSON (``render.card_texts``), when
        already made; any other card's is made here."""
        self.salt = salt
        self.path = path
        if path is not None:
            load(path)
        self._old: dict[str, Any] = _files.get(path, {}) if path is not None else {}
        self._used: dict[str, list[str]] = {}  # key -> [checksum, *parts], what a save writes
        self._card_keys: dict[int, tuple[BuiltCard, str]] = {
            id(bc): (bc, self._hash(text)) for bc, text in texts}
        self.hits = 0
        self.misses = 0

    def _hash(self, card_text: str) -> str:
        return hashlib.sha256(f"{self.salt}\x00{card_text}".encode("utf-8", "surrogatepass")).hexdigest()

    def _card_key(self, bc: BuiltCard) -> str:
        """The hash of the card and the salt, once per card and render (each card is kept alive
        with its ``id()``, so an id is never another card's)."""
        got = self._card_keys.get(id(bc))
        if got is None or got[0] is not bc:
            text = json.dumps(bc.to_dict(), sort_keys=True, ensure_ascii=False)
            got = self._card_keys[id(bc)] = (bc, self._hash(text))
        return got[1]

    def get(self, kind: str, bc: BuiltCard, make: Callable[[BuiltCard], list[str]], *, size: int) -> list[str]:
        """The piece ``kind`` of ``bc``: ``size`` strings, from the memo or from ``make(bc)``."""
        key = hashlib.sha256(f"{kind}\x00{self._card_key(bc)}".encode()).hexdigest()
        return self._lookup(kind, key, lambda: make(bc), size, None)

    def text(self, kind: str, bc: BuiltCard, make: Callable[[BuiltCard], str]) -> str:
        """A piece that is one string."""
        return self.get(kind, bc, lambda b: [make(b)], size=1)[0]

    def shared(self, kind: str, make: Callable[[], str], check: Callable[[str], bool]) -> str:
        """A piece of no card (what the templates alone make), used only where ``check`` passes."""
        key = hashlib.sha256(f"{kind}\x00shared\x00{self.salt}".encode("utf-8", "surrogatepass")).hexdigest()
        return self._lookup(kind, key, lambda: [make()], 1, lambda parts: check(parts[0]))[0]

    def _lookup(self, kind: str, key: str, make: Callable[[], list[str]], size: int,
                check: Callable[[list[str]], bool] | None) -> list[str]:
        entry = self._old.get(key)
        if (isinstance(entry, list) and len(entry) == size + 1 and all(isinstance(x, str) for x in entry)
                and entry[0] == _checksum(key, entry[1:]) and (check is None or check(entry[1:]))):
            self.hits += 1
        else:
            parts = make()
            if len(parts) != size:  # a renderer's own contract, not input
                raise ValueError(f"a {kind} piece has {len(parts)} parts, expected {size}")
            entry = [_checksum(key, parts), *parts]
            self.misses += 1
        self._used[key] = entry
        return entry[1:]

    def save(self) -> None:
        """Write the entries this render used (when they differ from the file's); never fails a build."""
        if self.path is None or (self.misses == 0 and self._used.keys() == self._old.keys()):
            return
        from generator import atomic

        entries = self._used
        with contextlib.suppress(OSError):  # only a speed-up
            # not fsynced: a file a power loss damaged fails its checks and is rendered again
            atomic.write_text(self.path, json.dumps({"format": MEMO_FORMAT, "entries": entries}),
                              durable=False)
        _files[self.path] = entries
