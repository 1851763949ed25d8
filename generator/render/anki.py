"""Stage 4: the Anki deck (``tnquiz.apkg``), written with genanki's schema and our own writer.

Design (details and the reasons in ``docs/anki.md``):

* Four note types with fixed ids and one fixed field set (:data:`FIELDS`, with a spare ``Meta``):
  front/back, type-in (``{{type:TypeAnswer}}``), multiple choice and cloze. :func:`note_type_for`
  maps a card kind to one of them.
* A note's GUID comes from the card ``id`` only, never from its content, so an edited card updates the
  note already in a collection.
* Anki updates a note on re-import only when the package's note ``mod`` is newer than its own, so each
  note's ``mod`` is chosen against the previous build in the same output directory: an unchanged note
  keeps its previous ``mod`` (re-importing it changes nothing), a changed one gets
  ``max(now, previous + 1)``, where *now* is ``SOURCE_DATE_EPOCH`` when set. Note types get the same
  treatment.
* Every other timestamp and id is derived from those ``mod`` values or from hashes, and the zip entries
  carry a fixed date, so the same input (and previous build) gives a byte-identical ``.apkg``.

This module never imports torch.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import os
import re
import sqlite3
import tempfile
import time
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from generator.atomic import atomic_path
from generator.model import BuiltCard, Deck
from generator.render.env import make_env
from generator.render.highlight import highlight_css, lex_python

#: File name of the whole deck inside the output directory.
APKG_NAME = "tnquiz.apkg"

#: Bumped when the meaning of the ``Meta`` field changes.
META_VERSION = 1

#: The fields of every tnquiz note type, in order. Never reorder or rename (a schema change in Anki);
#: ``Meta`` is the spare (JSON, not shown) for whatever later versions need to carry.
FIELDS: tuple[str, ...] = (
    "Id",
    "Question",
    "Code",
    "Answer",
    "TypeAnswer",
    "Options",
    "Explain",
    "Source",
    "Verified",
    "Meta",
)
SORT_FIELD = FIELDS.index("Question")

FRONT_BACK = "front_back"
TYPE_IN = "type_in"
CHOICE = "choice"
CLOZE = "cloze"


@dataclass(frozen=True)
class NoteTypeSpec:
    key: str
    model_id: int  # fixed forever: Anki matches note types by id
    name: str
    template_name: str
    front: str  # template file names under templates/anki/
    back: str
    cloze: bool = False


NOTE_TYPES: dict[str, NoteTypeSpec] = {
    FRONT_BACK: NoteTypeSpec(FRONT_BACK, 1839201101, "tnquiz: front/back", "Card", "basic_front.html", "basic_back.html"),
    TYPE_IN: NoteTypeSpec(TYPE_IN, 1839201102, "tnquiz: type-in", "Type-in", "typein_front.html", "typein_back.html"),
    CHOICE: NoteTypeSpec(CHOICE, 1839201103, "tnquiz: multiple choice", "Choice", "choice_front.html", "choice_back.html"),
    CLOZE: NoteTypeSpec(CLOZE, 1839201104, "tnquiz: cloze", "Cloze", "cloze_front.html", "cloze_back.html", cloze=True),
}

#: Card kind -> note type. ``choice`` and ``cloze`` fall back to front/back when a card lacks its
#: options or its cloze text (which a card with status ``ok`` never does).
KIND_TO_NOTE_TYPE: dict[str, str] = {
    "shape": TYPE_IN,
    "dtype": TYPE_IN,
    "value": FRONT_BACK,
    "error": FRONT_BACK,
    "output": FRONT_BACK,
    "choice": CHOICE,
    "cloze": CLOZE,
}

_ANSWER_LABELS = {"error": "Raises", "output": "Prints", "cloze": "Result"}

# Jinja2 delimiters for every file in templates/anki/: Anki's own {{Field}} syntax passes through.
_DELIMITERS: dict[str, Any] = {
    "block_start_string": "[%",
    "block_end_string": "%]",
    "variable_start_string": "[[",
    "variable_end_string": "]]",
    "comment_start_string": "[#",
    "comment_end_string": "#]",
}

# Text that Anki's renderer would act on inside field content, neutralised with character references
# (the browser shows the same characters): [sound:...] plays audio, [anki:...] is a TTS tag, and
# [[type:...]] is the type-in placeholder.
_ANKI_TAGS = re.compile(r"\[(?=sound:|anki:|\[type:)")


def _neutralise(field_html: str) -> str:
    return _ANKI_TAGS.sub("&#91;", field_html)


def _cloze_safe(text_html: str) -> str:
    """Hide ``{``, ``}`` and ``:`` from Anki's cloze parser (``{{c1::``, ``}}``, ``::hint``)."""
    return text_html.replace("{", "&#123;").replace("}", "&#125;").replace(":", "&#58;")


# --------------------------------------------------------------------------------------------------
# Ids, GUIDs, tags and names


def _hash_int(*parts: str, bits: int = 64) -> int:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - bits)


_BASE91 = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&()*+,-./:;<=>?@[]^_`{|}~"


def note_guid(card_id: str) -> str:
    """The note GUID of a card: from its YAML ``id`` only (ids are unique across all files)."""
    n = _hash_int("tnquiz-note", card_id)
    out = []
    while n:
        n, r = divmod(n, len(_BASE91))
        out.append(_BASE91[r])
    return "".join(reversed(out)) or "a"


def deck_id(name: str) -> int:
    """A stable deck id from the deck's full name (Anki matches decks by name on import anyway)."""
    return (1 << 30) + _hash_int("tnquiz-deck", name, bits=52) % ((1 << 52) - (1 << 30))


def sanitise_tag(tag: str) -> str:
    """Anki tags cannot contain spaces."""
    return re.sub(r"\s+", "_", tag.strip())


def sanitise_filename(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return cleaned or "deck"


def _deck_path(name: str) -> list[str]:
    parts = [p.strip() for p in name.split("::") if p.strip()]
    return ["::".join(parts[: i + 1]) for i in range(len(parts))] or ["tnquiz"]


def _code_text(code: str) -> str:
    """The code as shown: trailing blank lines dropped, one final newline."""
    return code.rstrip("\n") + "\n"


def note_type_for(bc: BuiltCard) -> str:
    """Which note type a built card becomes (see :data:`KIND_TO_NOTE_TYPE`)."""
    key = KIND_TO_NOTE_TYPE.get(bc.card.kind, FRONT_BACK)
    if key == CHOICE and not bc.options:
        return FRONT_BACK
    if key == CLOZE and not (bc.card.cloze and bc.card.cloze in _code_text(bc.card.code)):
        return FRONT_BACK
    return key


# --------------------------------------------------------------------------------------------------
# Rendering


def _anki_env(templates: Path | None) -> jinja2.Environment:
    return make_env("anki", templates).overlay(**_DELIMITERS)


def _render(env: jinja2.Environment, name: str, **context: Any) -> str:
    return env.get_template(name).render(**context).strip()


def _code_html(code: str, cloze: str | None = None) -> str:
    """Highlighted code (pygments, build time); with ``cloze``, that piece is wrapped in ``{{c1::...}}``.

    The code is tokenised once, whole, so the blanked piece is highlighted in context; tokens are cut
    at the cloze's edges so the markers sit between complete ``<span>`` elements (the HTML stays
    balanced whatever Anki puts in their place). All ``{``, ``}`` and ``:`` in the code are written
    as character references so that nothing in the code itself can open, close or hint a cloze.
    """
    text = _code_text(code)
    start, end = -1, -1
    if cloze:
        start = text.find(cloze)
        if start >= 0:
            end = start + len(cloze)
    # (class, text) segments, with the cloze markers as (None, marker); equal neighbours merged.
    segments: list[tuple[str | None, str]] = []

    def emit(cls: str | None, value: str) -> None:
        if segments and cls is not None and segments[-1][0] == cls:
            segments[-1] = (cls, segments[-1][1] + value)
        elif value:
            segments.append((cls, value))

    pos = 0
    for tok_cls, value in lex_python(text):
        tok_start, tok_end = pos, pos + len(value)
        pos = tok_end
        cuts = sorted({tok_start, tok_end} | {c for c in (start, end) if tok_start < c < tok_end})
        for a, b in itertools.pairwise(cuts):
            if a == start:
                segments.append((None, "{{c1::"))
            emit(tok_cls, text[a:b])
            if b == end:
                segments.append((None, "}}"))
    if segments and segments[-1][0] is not None and segments[-1][1].endswith("\n"):
        cls, value = segments.pop()
        if value[:-1]:
            segments.append((cls, value[:-1]))
    out = []
    for cls, value in segments:
        if cls is None:
            out.append(value)
            continue
        escaped = _cloze_safe(html.escape(value, quote=False))
        out.append(f'<span class="{cls}">{escaped}</span>' if cls else escaped)
    body = "".join(out)
    return f'<div class="tnq-code"><pre>{body}</pre></div>'


@dataclass(frozen=True)
class _ShownOption:
    letter: str
    text: str
    correct: bool


def _field_values(bc: BuiltCard, key: str, env: jinja2.Environment, deck: Deck) -> list[str]:
    c = bc.card
    answer_text = (bc.answer.text if bc.answer is not None else "").rstrip("\n")
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    options = [
        _ShownOption(letters[i] if i < len(letters) else str(i + 1), o.text.rstrip("\n"), o.correct)
        for i, o in enumerate(bc.options)
    ]
    letter = ""
    if key == CHOICE:
        correct = [o for o in options if o.correct]
        if correct:
            letter, answer_text = correct[0].letter, correct[0].text

    label = _ANSWER_LABELS.get(c.kind if key != CLOZE else "cloze", "Answer")
    if key == CLOZE:
        code_html = _code_html(c.code, c.cloze)
    elif c.code.strip():
        code_html = _code_html(c.code)
    else:
        code_html = ""
    if c.setup.strip():  # the context the question needs (what `a` is), shown dimmed above the code
        code_html = ('<div class="tnq-setup"><div class="tnq-setup-label">Given</div>'
                     f"{_code_html(c.setup)}</div>{code_html}")

    fields: dict[str, str] = {
        "Id": html.escape(c.id, quote=False),
        "Question": _render(env, "field_question.html", question=c.question.strip(), card=c),
        "Code": code_html,
        "Answer": _render(env, "field_answer.html", kind=c.kind, label=label, letter=letter,
                          text=answer_text, card=c),
        "TypeAnswer": html.escape(answer_text, quote=False) if key == TYPE_IN else "",
        "Options": _render(env, "field_options.html", options=options, card=c) if key == CHOICE else "",
        "Explain": _render(env, "field_explain.html", explain=c.explain.strip(), card=c)
        if c.explain.strip() else "",
        "Source": _render(env, "field_source.html", source=c.source.strip(), card=c)
        if c.source.strip() else "",
        "Verified": _render(env, "field_verified.html", torch_version=bc.torch_version or deck.torch_version,
                            ran_on=bc.ran_on, id=c.id, card=c),
        "Meta": html.escape(json.dumps({
            "answer_hash": bc.answer_hash,
            "deck": c.deck,
            "id": c.id,
            "kind": c.kind,
            "tnquiz": META_VERSION,
        }, sort_keys=True, ensure_ascii=False), quote=False),
    }
    return [_neutralise(fields[name]) for name in FIELDS]


def _note_type_json(spec: NoteTypeSpec, env: jinja2.Environment, css: str) -> dict[str, Any]:
    """The note type as schema-11 JSON (what ``col.models`` holds), without ``mod``."""
    flds = [
        {"name": name, "ord": i, "font": "Arial", "media": [], "rtl": False, "size": 20,
         "sticky": False}
        for i, name in enumerate(FIELDS)
    ]
    tmpl = {
        "name": spec.template_name,
        "ord": 0,
        "qfmt": _render(env, spec.front),
        "afmt": _render(env, spec.back),
        "bqfmt": "",
        "bafmt": "",
        "bfont": "",
        "bsize": 0,
        "did": None,
    }
    return {
        "id": spec.model_id,
        "name": spec.name,
        "type": 1 if spec.cloze else 0,
        "flds": flds,
        "tmpls": [tmpl],
        "css": css,
        "sortf": SORT_FIELD,
        # Anki works out which fields a card needs itself; this legacy list says "Question" for
        # the standard types and is ignored for cloze.
        "req": [[0, "any", [FIELDS.index("Question")]]],
        "did": None,
        "tags": [],
        "vers": [],
        "usn": -1,
        "latexPre": _LATEX_PRE,
        "latexPost": "\\end{document}",
        "latexsvg": False,
    }


_LATEX_PRE = (
    "\\documentclass[12pt]{article}\n\\special{papersize=3in,5in}\n\\usepackage[utf8]{inputenc}\n"
    "\\usepackage{amssymb,amsmath}\n\\pagestyle{empty}\n\\setlength{\\parindent}{0in}\n"
    "\\begin{document}\n"
)


# --------------------------------------------------------------------------------------------------
# The package


@dataclass
class _Note:
    guid: str
    model_id: int
    deck: str
    fields: list[str]
    tags: str  # Anki's " a b " form
    mod: int = 0

    @property
    def flds(self) -> str:
        return "\x1f".join(self.fields)


@dataclass
class _Previous:
    """What the previous build in the same directory wrote: note and note type ``mod`` times."""

    notes: dict[str, tuple[int, int, str, str]]  # guid -> (mod, mid, flds, tags)
    models: dict[int, tuple[int, str]]  # model id -> (mod, canonical JSON without mod)


def _canonical(model: Mapping[str, Any]) -> str:
    return json.dumps({k: v for k, v in model.items() if k not in ("mod", "usn")}, sort_keys=True)


def _read_previous(path: Path) -> _Previous:
    prev = _Previous({}, {})
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
                    prev.models[int(mid)] = (int(m.get("mod", 0)), _canonical(m))
            finally:
                conn.close()
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile, sqlite3.Error):
        return _Previous({}, {})  # unreadable: treat every note as new
    return prev


def _now() -> int:
    sde = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if sde:
        try:
            return int(sde)
        except ValueError:
            pass
    return int(time.time())


def _next_mod(previous: int | None, same: bool, now: int) -> int:
    if previous is None:
        return now
    if same:
        return previous
    return max(now, previous + 1)


def _unique_ids(keys: Iterable[str], salt: str, taken: set[int]) -> dict[str, int]:
    """Stable, distinct ids (in Anki's millisecond-timestamp range) from hashes of ``keys``."""
    out: dict[str, int] = {}
    for key in sorted(set(keys)):
        n = 0
        while True:
            candidate = 1_000_000_000_000 + _hash_int(salt, key, str(n)) % 900_000_000_000
            if candidate not in taken:
                break
            n += 1
        taken.add(candidate)
        out[key] = candidate
    return out


def _zip_date() -> tuple[int, int, int, int, int, int]:
    sde = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if sde.isdigit():
        t = datetime.fromtimestamp(max(int(sde), 315532800), tz=timezone.utc)  # >= 1980-01-01
        return (t.year, t.month, t.day, t.hour, t.minute, t.second)
    return (1980, 1, 1, 0, 0, 0)


def _strip_html(field_html: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", field_html)).strip()


def _write_package(path: Path, notes: list[_Note], models: dict[int, dict[str, Any]]) -> None:
    """Write ``notes`` (in order) to an ``.apkg`` at ``path``, atomically and reproducibly."""
    from genanki.apkg_col import APKG_COL
    from genanki.apkg_schema import APKG_SCHEMA

    used_models = {n.model_id for n in notes}
    stamp = max([n.mod for n in notes] + [m["mod"] for mid, m in models.items() if mid in used_models]
                + [0])
    deck_names = sorted({p for n in notes for p in _deck_path(n.deck)})
    decks: dict[str, Any] = {}
    for name in deck_names:
        did = deck_id(name)
        decks[str(did)] = {
            "id": did, "name": name, "desc": "", "collapsed": False, "browserCollapsed": False,
            "conf": 1, "dyn": 0, "extendNew": 0, "extendRev": 0, "mod": stamp, "usn": -1,
            "newToday": [0, 0], "revToday": [0, 0], "lrnToday": [0, 0], "timeToday": [0, 0],
        }
    note_ids = _unique_ids((n.guid for n in notes), "tnquiz-nid", set())
    card_ids = _unique_ids((n.guid for n in notes), "tnquiz-cid", set(note_ids.values()))

    # the SQLite file goes to the system temp dir, the package straight to an atomic temp file
    # beside `path`: a killed build leaves no folder in --out and the old .apkg whole
    with tempfile.TemporaryDirectory(prefix="tnquiz-anki-") as tmp:
        db = Path(tmp) / "collection.anki2"
        conn = sqlite3.connect(db)
        try:
            cur = conn.cursor()
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
                sort_field = _strip_html(n.fields[SORT_FIELD])
                csum = int(hashlib.sha1(_strip_html(n.fields[0]).encode()).hexdigest()[:8], 16)
                cur.execute(
                    "INSERT INTO notes VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (nid, n.guid, n.model_id, n.mod, -1, n.tags, n.flds, sort_field, csum, 0, ""),
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
                zf.writestr(info, data)


def build_notes(
    deck: Deck, *, templates: Path | None = None, previous: _Previous | None = None, now: int | None = None
) -> tuple[list[_Note], dict[int, dict[str, Any]]]:
    """The notes (cards with status ``ok``, build order) and note types of ``deck``, with ``mod`` set."""
    env = _anki_env(templates)
    prev = previous or _Previous({}, {})
    now = _now() if now is None else now
    css = _render(env, "style.css", code_css=Markup(
        highlight_css(dark_selectors=(".nightMode", ".night_mode"), media=False)))

    models: dict[int, dict[str, Any]] = {}
    for spec in NOTE_TYPES.values():
        model = _note_type_json(spec, env, css)
        old = prev.models.get(spec.model_id)
        if old is None:
            model["mod"] = now
        else:
            model["mod"] = _next_mod(old[0], old[1] == _canonical(model), now)
        models[spec.model_id] = model

    notes: list[_Note] = []
    seen: set[str] = set()
    for bc in deck.cards:
        if bc.status != "ok" or bc.id in seen:
            continue
        seen.add(bc.id)
        key = note_type_for(bc)
        tags = [t for t in dict.fromkeys(sanitise_tag(t) for t in bc.card.tags) if t]
        note = _Note(
            guid=note_guid(bc.id),
            model_id=NOTE_TYPES[key].model_id,
            deck=_deck_path(bc.card.deck)[-1],
            fields=_field_values(bc, key, env, deck),
            tags=f" {' '.join(tags)} " if tags else "",
        )
        old_note = prev.notes.get(note.guid)
        same = old_note is not None and old_note[1:] == (note.model_id, note.flds, note.tags)
        note.mod = _next_mod(old_note[0] if old_note else None, same, now)
        notes.append(note)
    return notes, models


def write_apkg(deck: Deck, out_dir: Path, *, templates: Path | None = None, split: bool = False) -> list[Path]:
    """Write out_dir/tnquiz.apkg (only cards with status 'ok'); with split=True also one .apkg per top-level deck (e.g. out_dir/PyTorch.apkg, name sanitised). Return the paths written."""
    out_dir = Path(out_dir)
    main = out_dir / APKG_NAME
    notes, models = build_notes(deck, templates=templates, previous=_read_previous(main))
    _write_package(main, notes, models)
    written = [main]
    if split:
        by_top: dict[str, list[_Note]] = {}
        for n in notes:
            by_top.setdefault(_deck_path(n.deck)[0], []).append(n)
        used_names = {APKG_NAME.lower()}
        for top in sorted(by_top):
            base = sanitise_filename(top)
            name, i = f"{base}.apkg", 2
            while name.lower() in used_names:
                name, i = f"{base}-{i}.apkg", i + 1
            used_names.add(name.lower())
            _write_package(out_dir / name, by_top[top], models)
            written.append(out_dir / name)
    return written
