"""Identity in Anki: note GUIDs from the YAML ``id``, stable deck ids, tags, file names, row ids."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable


def hash_int(*parts: str, bits: int = 64) -> int:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - bits)


_BASE91 = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&()*+,-./:;<=>?@[]^_`{|}~"


def note_guid(card_id: str) -> str:
    """The note GUID of a card: from its YAML ``id`` only (ids are unique across all files)."""
    n = hash_int("tnquiz-note", card_id)
    out = []
    while n:
        n, r = divmod(n, len(_BASE91))
        out.append(_BASE91[r])
    return "".join(reversed(out)) or "a"


def deck_id(name: str) -> int:
    """A stable deck id from the deck's full name (Anki matches decks by name on import anyway)."""
    return (1 << 30) + hash_int("tnquiz-deck", name, bits=52) % ((1 << 52) - (1 << 30))


def sanitise_tag(tag: str) -> str:
    """Anki tags cannot contain spaces."""
    return re.sub(r"\s+", "_", tag.strip())


def sanitise_filename(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return cleaned or "deck"


def deck_path(name: str) -> list[str]:
    """``A::B::C`` -> ``["A", "A::B", "A::B::C"]`` (empty parts dropped)."""
    parts = [p.strip() for p in name.split("::") if p.strip()]
    return ["::".join(parts[: i + 1]) for i in range(len(parts))] or ["tnquiz"]


def unique_ids(keys: Iterable[str], salt: str, taken: set[int]) -> dict[str, int]:
    """Stable, distinct ids (in Anki's millisecond-timestamp range) from hashes of ``keys``."""
    out: dict[str, int] = {}
    for key in sorted(set(keys)):
        n = 0
        while True:
            candidate = 1_000_000_000_000 + hash_int(salt, key, str(n)) % 900_000_000_000
            if candidate not in taken:
                break
            n += 1
        taken.add(candidate)
        out[key] = candidate
    return out
