"""Stage 4: the Anki deck (``tnquiz.apkg``), written with genanki's schema and our own writer.

Design (details and the reasons in ``docs/anki.md``), one module per concern:

* :mod:`.notetypes`: four note types with fixed ids and one fixed field set, front/back,
  shape-or-dtype (self-graded), multiple choice and cloze; which card kind becomes which.
* :mod:`.fields`: a built card as its note's fields (the question side comes from
  ``generator/render/question.py``, the same for every output).
* :mod:`.ids`: a note's GUID comes from the card ``id`` only, never from its content, so an edited
  card updates the note already in a collection; stable deck and row ids.
* :mod:`.notetime`: each note's ``mod``, chosen against the previous build, so that a re-import
  updates exactly the changed notes.
* :mod:`.package`: the SQLite/zip writer, byte-reproducible.

This package never imports torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from markupsafe import Markup

from generator.model import Deck
from generator.render.anki.fields import code_html, field_values
from generator.render.anki.ids import deck_id, deck_path, note_guid, sanitise_filename, sanitise_tag
from generator.render.anki.notetime import Previous, canonical, next_mod, read_previous
from generator.render.anki.notetime import now as _now
from generator.render.anki.notetypes import (
    CHOICE,
    CLOZE,
    FIELDS,
    FRONT_BACK,
    KIND_TO_NOTE_TYPE,
    NOTE_TYPES,
    SORT_FIELD,
    TYPE_IN,
    anki_env,
    note_type_for,
    note_type_json,
    render,
)
from generator.render.anki.package import Note, write_package
from generator.render.highlight import highlight_css
from generator.render.memo import Pieces

__all__ = [
    "APKG_NAME", "CHOICE", "CLOZE", "FIELDS", "FRONT_BACK", "KIND_TO_NOTE_TYPE", "NOTE_TYPES", "TYPE_IN",
    "build_notes", "code_html", "deck_id", "note_guid", "note_type_for", "write_apkg",
]

#: File name of the whole deck inside the output directory.
APKG_NAME = "tnquiz.apkg"

#: The card background in ``templates/anki/style.css`` (``--tnq-bg``), light and night: code sits
#: on it and its colours are chosen against it.
LIGHT_BG = "#ffffff"
NIGHT_BG = "#1e1f22"


def build_notes(
    deck: Deck, *, templates: Path | None = None, previous: Previous | None = None, now: int | None = None,
    pieces: Pieces | None = None,
) -> tuple[list[Note], dict[int, dict[str, Any]]]:
    """The notes (cards with status ``ok``, build order) and note types of ``deck``, with ``mod`` set.

    Each note's fields are a piece (kept between builds in ``pieces``)."""
    env = anki_env(templates)
    pieces = pieces or Pieces("")
    prev = previous or Previous({}, {})
    now = _now() if now is None else now

    def make_types() -> str:
        css = render(env, "style.css", code_css=Markup(
            highlight_css(LIGHT_BG, NIGHT_BG, dark_selectors=(".nightMode", ".night_mode"), media=False)))
        return json.dumps([note_type_json(spec, env, css) for spec in NOTE_TYPES.values()])

    types = json.loads(pieces.shared("anki-note-types", make_types, _are_note_types))
    models: dict[int, dict[str, Any]] = {}
    for model in types:  # NOTE_TYPES' note types, in order (_are_note_types)
        old = prev.models.get(model["id"])
        if old is None:
            model["mod"] = now
        else:
            model["mod"] = next_mod(old[0], old[1] == canonical(model), now)
        models[model["id"]] = model

    notes: list[Note] = []
    seen: set[str] = set()
    for bc in deck.cards:
        if bc.status != "ok" or bc.id in seen:
            continue
        seen.add(bc.id)
        key = note_type_for(bc)
        tags = [t for t in dict.fromkeys(sanitise_tag(t) for t in bc.card.tags) if t]
        note = Note(
            guid=note_guid(bc.id),
            model_id=NOTE_TYPES[key].model_id,
            deck=deck_path(bc.card.deck)[-1],
            fields=pieces.get("anki", bc, lambda b: field_values(b, note_type_for(b), env, deck),
                              size=len(FIELDS)),
            tags=f" {' '.join(tags)} " if tags else "",
        )
        old_note = prev.notes.get(note.guid)
        same = old_note is not None and old_note[1:] == (note.model_id, note.flds, note.tags)
        note.mod = next_mod(old_note[0] if old_note else None, same, now)
        notes.append(note)
    return notes, models


def _are_note_types(text: str) -> bool:
    """A kept ``anki-note-types`` piece is the JSON list of :data:`NOTE_TYPES`' note types, in order."""
    try:
        types = json.loads(text)
    except ValueError:
        return False
    return (isinstance(types, list) and len(types) == len(NOTE_TYPES)
            and all(isinstance(t, dict) and t.get("id") == spec.model_id
                    for t, spec in zip(types, NOTE_TYPES.values(), strict=True)))


def write_apkg(deck: Deck, out_dir: Path, *, templates: Path | None = None, split: bool = False,
               pieces: Pieces | None = None) -> list[Path]:
    """Write out_dir/tnquiz.apkg (only cards with status 'ok'); with split=True also one .apkg per
    top-level deck (e.g. out_dir/PyTorch.apkg, name sanitised). Return the paths written."""
    out_dir = Path(out_dir)
    main = out_dir / APKG_NAME
    notes, models = build_notes(deck, templates=templates, previous=read_previous(main), pieces=pieces)
    write_package(main, notes, models, SORT_FIELD)
    written = [main]
    if split:
        by_top: dict[str, list[Note]] = {}
        for n in notes:
            by_top.setdefault(deck_path(n.deck)[0], []).append(n)
        used_names = {APKG_NAME.lower()}
        for top in sorted(by_top):
            base = sanitise_filename(top)
            name, i = f"{base}.apkg", 2
            while name.lower() in used_names:
                name, i = f"{base}-{i}.apkg", i + 1
            used_names.add(name.lower())
            write_package(out_dir / name, by_top[top], models, SORT_FIELD)
            written.append(out_dir / name)
    return written
