"""Stage 1's memo: a card file whose bytes are unchanged is not parsed again.

Reading and validating the YAML is most of a warm build (about 0.2 s of 0.8 s for the bundled deck).
The memo keeps, for each card file that loaded without a problem, the cards it gave, keyed by a hash
of the file's bytes, the name it is shown under, and the loader itself (the source of the modules
that read and validate cards, PyYAML's and Python's versions): any change to one of them is a miss,
and the file is parsed as if there were no memo.

The memo is a file in the cache folder (``loaded.json``), and like everything tnquiz reads it is
hostile until validated: a file of another format or loader, over ``MAX_BYTES``, not JSON, or an
entry whose checksum or any field's type is wrong is a miss, never a card. A file that loaded with
a problem is never kept (its problems are reported from a fresh parse every time), nor is one
whose cards would not come back from JSON exactly as they are.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator import atomic
from generator.model import Card

FORMAT = 2
#: The memo's file name in the cache folder.
MEMO_FILE = "loaded.json"
#: A memo file larger than this is not read (a file of that size is not ours).
MAX_BYTES = 256 << 20
#: Card files kept at most (the ones this load used come first).
MAX_FILES = 4096
#: The modules whose code decides what a card file loads as.
LOADER_MODULES = ("load.py", "fields.py", "yamltree.py", "model.py", "loadmemo.py", "paths.py", "sources.py")


@functools.lru_cache(maxsize=1)
def loader_fingerprint() -> str:
    import yaml

    h = hashlib.sha256(f"{FORMAT}\0{sys.version}\0{yaml.__version__}".encode())
    package = Path(__file__).resolve().parent
    for name in LOADER_MODULES:
        h.update(name.encode() + b"\0")
        try:
            h.update((package / name).read_bytes())
        except OSError:
            h.update(b"\0missing")
    return h.hexdigest()


def _checksum(key: str, text: str) -> str:
    return hashlib.sha256(f"{key}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()


def _checker(hint: Any) -> Callable[[Any], bool]:
    """A test that a JSON value fits a field's declared type (the types ``Card`` uses), made once."""
    if hint is Any:
        return lambda v: True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        alternatives = [_checker(h) for h in typing.get_args(hint)]
        return lambda v: any(ok(v) for ok in alternatives)
    if hint is type(None):
        return lambda v: v is None
    if hint in (bool, int, str):  # `type(v) is int` also keeps `True` out of an int
        return lambda v: type(v) is hint
    if hint is float:
        return lambda v: type(v) in (int, float)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            item = _checker(args[0])
            return lambda v: type(v) is list and all(map(item, v))
        items = [_checker(a) for a in args]
        return lambda v: type(v) is list and len(v) == len(items) and all(ok(x) for ok, x in zip(items, v, strict=True))
    return lambda v: False


@functools.lru_cache(maxsize=1)
def _checkers() -> dict[str, Callable[[Any], bool]]:
    return {name: _checker(hint) for name, hint in typing.get_type_hints(Card).items()}


def _card(d: Any) -> Card:
    """A card from its memo entry; ``ValueError`` unless every field is there with its type."""
    checks = _checkers()
    if type(d) is not dict or d.keys() != checks.keys():
        raise ValueError("not a card's fields")
    for name, ok in checks.items():
        if not ok(d[name]):
            raise ValueError(f"`{name}` has the wrong type")
    kw = dict(d)
    for name in ("choices", "tags", "requires", "variants"):
        kw[name] = tuple(kw[name])
    kw["source_titles"] = tuple(tuple(t) for t in kw["source_titles"])
    return Card(**kw)


class LoadMemo:
    """The memo at ``path`` for one load: ``get``/``put`` by ``key``, then ``save``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._old = self._read()
        self._used: dict[str, dict[str, Any]] = {}
        self._changed = False

    def _read(self) -> dict[str, Any]:
        try:
            if self.path.stat().st_size > MAX_BYTES:
                return {}
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError, RecursionError):
            return {}
        if (not isinstance(data, dict) or data.get("format") != FORMAT
                or data.get("loader") != loader_fingerprint() or not isinstance(data.get("files"), dict)):
            return {}
        return data["files"]

    @staticmethod
    def key(data: bytes, shown: str) -> str:
        return hashlib.sha256(f"{loader_fingerprint()}\0{shown}\0".encode() + hashlib.sha256(data).digest()).hexdigest()

    def get(self, key: str) -> list[Card] | None:
        entry = self._old.get(key)
        if not isinstance(entry, dict) or not isinstance(entry.get("cards"), str):
            return None
        if entry.get("sum") != _checksum(key, entry["cards"]):
            return None
        try:
            dicts = json.loads(entry["cards"])
            if type(dicts) is not list:
                return None
            cards = [_card(d) for d in dicts]
        except (ValueError, TypeError, RecursionError):
            return None
        self._used[key] = entry
        return cards

    def put(self, key: str, cards: list[Card]) -> None:
        """Keep ``cards`` (a file's, loaded without a problem) if they come back from JSON as they are."""
        try:
            text = json.dumps([c.to_dict() for c in cards])
            if [_card(d) for d in json.loads(text)] != cards:
                return
        except (ValueError, TypeError, RecursionError):
            return
        self._used[key] = {"sum": _checksum(key, text), "cards": text}
        self._changed = True

    def save(self) -> None:
        """Write the memo when this load added to it: the entries it used first, then older ones."""
        if not self._changed:
            return
        files = dict(self._used)
        for k, v in self._old.items():
            if len(files) >= MAX_FILES:
                break
            files.setdefault(k, v)
        blob = json.dumps({"format": FORMAT, "loader": loader_fingerprint(), "files": files})
        with contextlib.suppress(OSError):  # a memo that cannot be written costs the next load its speed
            atomic.write_text(self.path, blob, durable=False)
