"""A built card as the field values of its note: highlighted code, the answer, options, the details.

Everything that is not our own markup is HTML-escaped; text that Anki's renderer would act on
(``[sound:...]``, ``{{c1::...}}`` in code) is neutralised with character references.
"""

from __future__ import annotations

import html
import itertools
import json
import re
from dataclasses import dataclass
from functools import lru_cache

import jinja2
import markupsafe

from generator.model import BuiltCard, Deck
from generator.render.anki.notetypes import CHOICE, CLOZE, FIELDS, TYPE_IN, render
from generator.render.highlight import lex_python
from generator.render.question import (
    ALSO_RIGHT,
    accepted_forms,
    cloze_span,
    exercise_results,
    given_result,
    option_label,
    shown_code,
    source_line,
    summarize_error,
)

#: Bumped when the meaning of the ``Meta`` field changes.
META_VERSION = 1

_ANSWER_LABELS = {"error": "Raises", "output": "Prints"}

# Text that Anki's renderer would act on inside field content, neutralised with character references
# (the browser shows the same characters): [sound:...] plays audio, [anki:...] is a TTS tag, and
# [[type:...]] is the type-in placeholder.
_ANKI_TAGS = re.compile(r"\[(?=sound:|anki:|\[type:)")


def _neutralise(field_html: str) -> str:
    return _ANKI_TAGS.sub("&#91;", field_html)


def _cloze_safe(text_html: str) -> str:
    """Hide ``{``, ``}`` and ``:`` from Anki's cloze parser (``{{c1::``, ``}}``, ``::hint``)."""
    return text_html.replace("{", "&#123;").replace("}", "&#125;").replace(":", "&#58;")


@lru_cache(maxsize=16384)  # per process: ``render.prelex`` fills it while workers start
def code_html(code: str, cloze: str | None = None) -> str:
    """Highlighted code (pygments, build time); with ``cloze``, the blank is wrapped in ``{{c1::...}}``.

    The blank is where ``question.cloze_span`` puts it. The code is tokenised once, whole, so the
    blanked piece is highlighted in context; tokens are cut at the cloze's edges so the markers sit
    between complete ``<span>`` elements (the HTML stays balanced whatever Anki puts in their
    place). All ``{``, ``}`` and ``:`` in the code are written as character references so that
    nothing in the code itself can open, close or hint a cloze.
    """
    text = shown_code(code) + "\n"
    start, end = cloze_span(code, cloze) or (-1, -1)
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
class ShownOption:
    label: str
    text: str
    correct: bool
    expr: str


def field_values(bc: BuiltCard, key: str, env: jinja2.Environment, deck: Deck) -> list[str]:
    """The note's fields, in :data:`FIELDS` order, for a card that becomes note type ``key``."""
    c = bc.card
    answer = bc.answer
    answer_text = (answer.text if answer is not None else "").rstrip("\n")
    full = ""  # the full error message, folded under the summary, when it says more
    if answer is not None and answer.type == "error":
        summary = summarize_error(answer)
        if summary.folded:
            answer_text, full = summary.head, summary.full
    options = [ShownOption(option_label(i), o.text.rstrip("\n"), o.correct, o.expr)
               for i, o in enumerate(bc.options)]
    pick = ""
    if key == CHOICE:
        correct = [o for o in options if o.correct]
        if correct:
            pick, answer_text = correct[0].label, correct[0].text

    label = _ANSWER_LABELS.get(answer.type if answer is not None else "", "Answer")
    if key == CLOZE:
        given = given_result(bc)
        if given is not None:  # the result the blank must produce, shown on the front
            label, answer_text = given.label, given.text
        code = code_html(c.code, c.cloze)
    elif c.code.strip():
        code = code_html(c.code)
    else:
        code = ""
    answer_field = render(env, "field_answer.html", kind=c.kind, label=label, letter=pick,
                          text=answer_text, full=full, card=c,
                          also=accepted_forms(c.kind, answer) if key == TYPE_IN and answer else (),
                          options=options if key == CHOICE else ())
    if c.kind == "exercise":  # self-graded: the task on the front, the solution and its results on the back
        given = given_result(bc)
        if given is not None:
            code = (f'<div class="tnq-given"><span class="tnq-label">{html.escape(given.label)}:</span> '
                    f"<code>{html.escape(given.text)}</code></div>")
        answer_field = render(env, "field_exercise.html", solution=markupsafe.Markup(code_html(c.solution)),
                              results=[(markupsafe.Markup(code_html(s)) if s else "", t) for s, t in exercise_results(bc)],
                              hint=c.hint, card=c)
    if c.setup.strip():  # the context the question needs (what `a` is), shown above the code
        code = ('<div class="tnq-setup"><div class="tnq-setup-label">Given</div>'
                f"{code_html(c.setup)}</div>{code}")

    fields: dict[str, str] = {
        "Id": html.escape(c.id, quote=False),
        "Question": render(env, "field_question.html", question=c.question.strip(), card=c),
        "Code": code,
        "Answer": answer_field,
        "TypeAnswer": "",
        "Options": (render(env, "field_options.html", options=options, card=c) if key == CHOICE
                    else render(env, "field_equivalents.html", label=ALSO_RIGHT, equivalents=bc.cloze_equivalents, card=c)
                    if key == CLOZE and bc.cloze_equivalents else ""),
        "Explain": render(env, "field_explain.html", explain=c.explain.strip(), card=c)
        if c.explain.strip() else "",
        "Source": render(env, "field_source.html", source=source_line(c), card=c)
        if c.source.strip() else "",
        "Verified": render(env, "field_verified.html", torch_version=bc.torch_version or deck.torch_version,
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
