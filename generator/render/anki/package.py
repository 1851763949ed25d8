"""The ``.apkg`` writer: a schema-11 SQLite collection in a zip, reproducible byte for byte.

The empty collection's schema and default rows come from genanki's ``apkg_schema`` and ``apkg_col``
modules, which are not genanki's public API: ``pyproject.toml`` pins genanki to the minor version this
was written against. Every timestamp and id is derived from the notes' ``mod`` values or from hashes,
and the zip entries carry a fixed date, so the same input (and previous build) gives the same bytes.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import sqlite3
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from generator.atomic import atomic_path
from generator.render.anki.ids import deck_id, deck_path, unique_ids

#: zlib level of the package's entries: level 1 takes a third of the default's time (6) for a
#: quarter more bytes (the bundled deck's collection: 0.29 MB against 0.23 MB).
ZIP_LEVEL = 1


@dataclass
class Note:
    guid: str
    model_id: int
    deck: str
    fields: list[str]
    tags: str  # Anki's " a b " form
    mod: int = 0

    @property
    def flds(self) -> str:
        return "\x1f".join(self.fields)


def _zip_date() -> tuple[int, int, int, int, int, int]:
    sde = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if sde.isdigit():
        t = datetime.fromtimestamp(max(int(sde), 315532800), tz=timezone.utc)  # >= 1980-01-01
        return (t.year, t.month, t.day, t.hour, t.minute, t.second)
    return (1980, 1, 1, 0, 0, 0)


def _strip_html(field_html: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", field_html)).strip()


def write_package(path: Path, notes: list[Note], models: dict[int, dict[str, Any]], sort_field: int) -> None:
    """Write ``notes`` (in order) to an ``.apkg`` at ``path``, atomically and reproducibly."""
    from genanki.apkg_col import APKG_COL
    from genanki.apkg_schema import APKG_SCHEMA

    used_models = {n.model_id for n in notes}
    stamp = max([n.mod for n in notes] + [m["mod"] for mid, m in models.items() if mid in used_models]
                + [0])
    deck_names = sorted({p for n in notes for p in deck_path(n.deck)})
    decks: dict[str, Any] = {}
    for name in deck_names:
        did = deck_id(name)
        decks[str(did)] = {
            "id": did, "name": name, "desc": "", "collapsed": False, "browserCollapsed": False,
            "conf": 1, "dyn": 0, "extendNew": 0, "extendRev": 0, "mod": stamp, "usn": -1,
            "newToday": [0, 0], "revToday": [0, 0], "lrnToday": [0, 0], "timeToday": [0, 0],
        }
    note_ids = unique_ids((n.guid for n in notes), "tnquiz-nid", set())
    card_ids = unique_ids((n.guid for n in notes), "tnquiz-cid", set(note_ids.values()))

    # the SQLite file goes to the system temp dir, the package straight to an atomic temp file
    # beside `path`: a killed build leaves no folder in --out and the old .apkg whole
    with tempfile.TemporaryDirectory(prefix="tnquiz-anki-") as tmp:
        db = Path(tmp) / "collection.anki2"
        conn = sqlite3.connect(db)
        try:
            cur = conn.cursor()
            # a scratch file, zipped when complete: no journal and no syncs (the file's bytes are
            # the same; a crash leaves only a temporary folder)
            cur.execute("PRAGMA journal_mode = OFF")
            cur.execute("PRAGMA synchronous = OFF")
            cur.executescript(APKG_SCHEMA)
            cur.executescript(APKG_COL)
            col_decks = json.loads(cur.execute("SELECT decks FROM col").fetchone()[0])
            for d in col_decks.values():
                d["mod"] = stamp
            col_decks.update(decks)
            dconf = json.loads(cur.execute("SELECT dconf FROM col").fetchone()[0])
            for c in dconf.values():
                c["mod"] = stamp
            conf = json.loads(cur.execute("SELECT conf FROM col").fetchone()[0])
            first_model = min(used_models) if used_models else min(models)
            conf["curModel"] = str(first_model)
            col_models = {str(mid): m for mid, m in sorted(models.items()) if mid in used_models}
            cur.execute(
                "UPDATE col SET crt = ?, mod = ?, scm = ?, ls = 0, conf = ?, models = ?, decks = ?, dconf = ?",
                (stamp, stamp * 1000, stamp * 1000, json.dumps(conf, sort_keys=True),
                 json.dumps(col_models, sort_keys=True), json.dumps(col_decks, sort_keys=True),
                 json.dumps(dconf, sort_keys=True)),
            )
            for position, n in enumerate(notes, start=1):
                nid = note_ids[n.guid]
                sfld = _strip_html(n.fields[sort_field])
                csum = int(hashlib.sha1(_strip_html(n.fields[0]).encode()).hexdigest()[:8], 16)
                cur.execute(
                    "INSERT INTO notes VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (nid, n.guid, n.model_id, n.mod, -1, n.tags, n.flds, sfld, csum, 0, ""),
                )
                cur.execute(
                    "INSERT INTO cards VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (card_ids[n.guid], nid, deck_id(n.deck), 0, n.mod, -1, 0, 0, position,
                     0, 0, 0, 0, 0, 0, 0, 0, ""),
                )
            conn.commit()
        finally:
            conn.close()

        date = _zip_date()
        with atomic_path(path) as tmp_apkg, zipfile.ZipFile(tmp_apkg, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data in (("collection.anki2", db.read_bytes()), ("media", b"{}")):
                info = zipfile.ZipInfo(name, date_time=date)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3
                info.external_attr = 0o100644 << 16
                zf.writestr(info, data, compresslevel=ZIP_LEVEL)
