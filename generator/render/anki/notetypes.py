"""The four tnquiz note types: fixed ids, one fixed field set, templates from ``templates/anki/``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from generator.model import BuiltCard
from generator.render.env import make_env
from generator.render.question import is_cloze

#: The fields of every tnquiz note type, in order. Never reorder or rename (a schema change in Anki);
#: ``Meta`` is the spare (JSON, not shown) for whatever later versions need to carry. ``TypeAnswer``
#: is kept, empty, from the time shape and dtype cards were typed into Anki (see ``docs/anki.md``).
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
TYPE_IN = "type_in"  # shape and dtype cards: front/back, self-graded (the id is kept from type-in days)
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
    TYPE_IN: NoteTypeSpec(TYPE_IN, 1839201102, "tnquiz: shape or dtype", "Card", "typein_front.html", "typein_back.html"),
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
    "exercise": FRONT_BACK,  # self-graded: Anki cannot run the learner's code
}

# Jinja2 delimiters for every file in templates/anki/: Anki's own {{Field}} syntax passes through.
_DELIMITERS: dict[str, Any] = {
    "block_start_string": "[%",
    "block_end_string": "%]",
    "variable_start_string": "[[",
    "variable_end_string": "]]",
    "comment_start_string": "[#",
    "comment_end_string": "#]",
}


def note_type_for(bc: BuiltCard) -> str:
    """Which note type a built card becomes (see :data:`KIND_TO_NOTE_TYPE`)."""
    key = KIND_TO_NOTE_TYPE.get(bc.card.kind, FRONT_BACK)
    if key == CHOICE and not bc.options:
        return FRONT_BACK
    if key == CLOZE and not is_cloze(bc):
        return FRONT_BACK
    return key


@lru_cache(maxsize=8)
def anki_env(templates: Path | None) -> jinja2.Environment:
    return make_env("anki", templates).overlay(**_DELIMITERS)


def render(env: jinja2.Environment, name: str, **context: Any) -> str:
    return env.get_template(name).render(**context).strip()


_LATEX_PRE = (
    "\\documentclass[12pt]{article}\n\\special{papersize=3in,5in}\n\\usepackage[utf8]{inputenc}\n"
    "\\usepackage{amssymb,amsmath}\n\\pagestyle{empty}\n\\setlength{\\parindent}{0in}\n"
    "\\begin{document}\n"
)


def note_type_json(spec: NoteTypeSpec, env: jinja2.Environment, css: str) -> dict[str, Any]:
    """The note type as schema-11 JSON (what ``col.models`` holds), without ``mod``."""
    flds = [
        {"name": name, "ord": i, "font": "Arial", "media": [], "rtl": False, "size": 20,
         "sticky": False}
        for i, name in enumerate(FIELDS)
    ]
    tmpl = {
        "name": spec.template_name,
        "ord": 0,
        "qfmt": render(env, spec.front),
        "afmt": render(env, spec.back),
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
