"""When a note (or note type) changed: the ``mod`` policy that makes re-imports update in place.

Anki updates a note on re-import only when the package's note ``mod`` is newer than its own, so each
note's ``mod`` is chosen against the previous build in the same output directory: an unchanged note
keeps its previous ``mod`` (re-importing it changes nothing), a changed one gets
``max(now, previous + 1)``, where *now* is ``SOURCE_DATE_EPOCH`` when set. Note types get the same
treatment.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Previous:
    """What the previous build in the same directory wrote: note and note type ``mod`` times."""

    notes: dict[str, tuple[int, int, str, str]]  # guid -> (mod, mid, flds, tags)
    models: dict[int, tuple[int, str]]  # model id -> (mod, canonical JSON without mod)


def canonical(model: Mapping[str, Any]) -> str:
    return json.dumps({k: v for k, v in model.items() if k not in ("mod", "usn")}, sort_keys=True)


def read_previous(path: Path) -> Previous:
    """The notes and note types of the ``.apkg`` at ``path``; empty when absent or unreadable."""
    prev = Previous({}, {})
    if not path.is_file():
        return prev
    try:
        with tempfile.TemporaryDirectory(prefix="tnquiz-anki-") as tmp:
            db = Path(tmp) / "collection.anki2"
            with zipfile.ZipFile(path) as zf:
                db.write_bytes(zf.read("collection.anki2"))
            conn = sqlite3.connect(db)
            try:
                for guid, mod, mid, flds, tags in conn.execute("SELECT guid, mod, mid, flds, tags FROM notes"):
                    prev.notes[str(guid)] = (int(mod), int(mid), str(flds), str(tags))
                (models_json,) = conn.execute("SELECT models FROM col").fetchone()
                for mid, m in json.loads(models_json).items():
                    prev.models[int(mid)] = (int(m.get("mod", 0)), canonical(m))
            finally:
                conn.close()
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile, sqlite3.Error):
        return Previous({}, {})  # unreadable: treat every note as new
    return prev


def now() -> int:
    """``SOURCE_DATE_EPOCH`` when set (reproducible builds), else the current time."""
    sde = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if sde:
        try:
            return int(sde)
        except ValueError:
            pass
    return int(time.time())


def next_mod(previous: int | None, same: bool, now: int) -> int:
    if previous is None:
        return now
    if same:
        return previous
    return max(now, previous + 1)
