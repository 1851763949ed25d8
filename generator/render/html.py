"""Stage 4 (HTML): ``quiz.html``, one self-contained page that quizzes the verified cards offline.

Everything is inline: the CSS (with the pygments token styles), the grader (``templates/html/grade.js``,
the same rules as ``generator/grading.py``), the app (``templates/html/quiz.js``) and the cards, as JSON
in a ``<script type="application/json">`` element. Code is highlighted here, at build time: each snippet
is stored as pygments tokens (``"plain text"`` or ``["css-class", "text"]``) that the page turns into
elements with ``textContent``, so no card text ever goes through an HTML parser in the browser.
A Content-Security-Policy (hashes of the two inline scripts, ``default-src 'none'``) forbids every
network request and any other script.

Templates (``tnquiz build --templates DIR`` overrides each from ``DIR/html/``): ``quiz.html.j2`` (the
page), ``quiz.css``, ``grade.js``, ``quiz.js``. Never imports torch.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup

from generator.model import BuiltCard, Deck
from generator.render.env import make_env
from generator.render.highlight import DARK_STYLE, LIGHT_STYLE, highlight_css, lex_python
from generator.render.memo import Pieces
from generator.render.question import (
    cloze_span,
    exercise_results,
    given_result,
    shown_code,
    source_line,
    summarize_error,
)

PAGE_TEMPLATE = "quiz.html.j2"
#: The page's card background in each mode (``--card`` in quiz.css): code sits on it, one palette.
LIGHT_CODE_BG = "#ffffff"
DARK_CODE_BG = "#1b1e25"
ASSETS = ("quiz.css", "grade.js", "quiz.js")

#: Version of the JSON the page embeds (``DATA.v`` in quiz.js); bump on an incompatible change.
PAGE_DATA_VERSION = 1

#: In the embedded JSON, a float that JSON cannot hold (NaN, inf) becomes ``{FLOAT_KEY: "nan"}``.
FLOAT_KEY = "$tnq:float"

#: A code token is plain text (a str) or ``[css_class, text]``; ``BLANK_TOKEN`` marks the cloze blank
#: (at the place ``question.cloze_span`` gives).
Token = str | list[str] | int
BLANK_TOKEN = 0

_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_JSON_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")


def write_html(deck: Deck, out_dir: Path, *, templates: Path | None = None,
               pieces: Pieces | None = None) -> Path:
    """Write out_dir/quiz.html (cards with status 'ok') and return its path."""
    from generator import atomic

    return atomic.write_text(Path(out_dir) / "quiz.html", render_html(deck, templates=templates, pieces=pieces))


def render_html(deck: Deck, *, templates: Path | None = None, pieces: Pieces | None = None) -> str:
    """The page as a string (what :func:`write_html` writes); each card's JSON is a piece (kept
    between builds in ``pieces``)."""
    env = make_env("html", templates)
    loader = env.loader
    if loader is None:  # make_env always sets one
        raise RuntimeError("the HTML template environment has no loader")

    def asset(name: str) -> str:
        return loader.get_source(env, name)[0]

    css = _inline_safe(highlight_css(LIGHT_CODE_BG, DARK_CODE_BG) + "\n" + asset("quiz.css"), "style")
    grade_js = _inline_safe(asset("grade.js"), "script")
    app_js = _inline_safe(asset("quiz.js"), "script")
    data_json, count = page_json(deck, pieces or Pieces(""))
    csp = content_security_policy(scripts=(grade_js, app_js), styles=(css,))
    page = env.get_template(PAGE_TEMPLATE).render(
        title=_title(deck),
        css=Markup(css),
        grade_js=Markup(grade_js),
        app_js=Markup(app_js),
        data_json=Markup(data_json),
        csp=csp,
        count=count,
        generator=deck.generator,
        torch_version=deck.torch_version,
    )
    for code in (grade_js, app_js):  # the CSP hashes must match the scripts as written
        if f"<script>{code}</script>" not in page:
            raise ValueError(f"{PAGE_TEMPLATE} must contain each script as <script>{{{{ ... }}}}</script>")
    return page


def _on_page(deck: Deck) -> list[BuiltCard]:
    return [bc for bc in deck.cards if bc.status == "ok" and bc.answer is not None]


def _page_head(deck: Deck, cards: list[BuiltCard]) -> dict[str, Any]:
    decks = sorted({bc.card.deck for bc in cards})
    key = hashlib.sha256("\n".join(decks).encode()).hexdigest()[:12]
    return {
        "v": PAGE_DATA_VERSION,
        "key": key,  # localStorage key suffix: stable while the set of decks is
        "generator": deck.generator,
        "torch": deck.torch_version,
        "cards": [],  # last: page_json puts the cards' JSON here
    }


def page_data(deck: Deck) -> dict[str, Any]:
    """What the page embeds: the cards that built ``ok`` and what the app needs to know about them."""
    cards = _on_page(deck)
    return {**_page_head(deck, cards), "cards": [card_data(bc, deck.torch_version) for bc in cards]}


def page_json(deck: Deck, pieces: Pieces) -> tuple[str, int]:
    """``json_for_script(page_data(deck))`` and the number of cards, assembled from each card's JSON
    (a piece: kept between builds)."""
    cards = _on_page(deck)
    head = json_for_script(_page_head(deck, cards))
    if not head.endswith('"cards":[]}'):
        raise ValueError("the page data must end with its card list")
    texts = [pieces.text("page", bc, lambda b: json_for_script(card_data(b, deck.torch_version)))
             for bc in cards]
    return head[: -len("[]}")] + "[" + ",".join(texts) + "]}", len(cards)


def card_data(bc: BuiltCard, torch_version: str = "") -> dict[str, Any]:
    """One card for the page (``answer``, ``options``, ``cloze`` and, as ``also``, ``cloze_equivalents``
    as in cards.json, for grade.js).

    ``torch``: the card's torch version, where it differs from the deck's (``torch_version``).
    """
    c = bc.card
    d: dict[str, Any] = {
        "id": c.id,
        "deck": c.deck,
        "tags": list(c.tags),
        "kind": c.kind,
        "q": c.question,
        "code": code_tokens(c.code),
        "answer": bc.answer.to_dict() if bc.answer else None,
        "h": bc.answer_hash,
    }
    if c.setup.strip():
        d["setup"] = code_tokens(c.setup)
    if bc.options:
        d["options"] = [o.to_dict() for o in bc.options]
    if c.cloze is not None:
        d["cloze"] = c.cloze
        d["cz"] = code_tokens(c.code, blank=c.cloze)
        if bc.cloze_equivalents:  # other fillings of the blank with the same live result (grade.js)
            d["also"] = list(bc.cloze_equivalents)
    given = given_result(bc)
    if given is not None:  # what the blank must produce, shown with the question
        d["given"] = {"label": given.label, "text": given.text}
    if bc.answer is not None and bc.answer.type == "error":
        err = summarize_error(bc.answer)
        if err.folded:  # the page shows the head, the full message folded
            d["err"] = err.head
    if c.kind == "exercise":  # the page cannot run code: the solution and its results, to compare by eye
        d["solution"] = code_tokens(c.solution)
        d["results"] = [{"setup": code_tokens(s) if s else [], "text": t} for s, t in exercise_results(bc)]
        if c.hint:
            d["hint"] = c.hint
    if c.explain:
        d["explain"] = c.explain
    if c.source.strip():
        d["source"] = source_line(c)
    if c.file:
        d["where"] = f"{c.file}:{c.line}" if c.line else c.file
    if bc.ran_on:
        d["on"] = bc.ran_on
    if bc.torch_version and bc.torch_version != torch_version:
        d["torch"] = bc.torch_version
    if bc.stdout and c.kind != "output":
        d["stdout"] = bc.stdout
    return d


def code_tokens(code: str, *, blank: str | None = None) -> list[Token]:
    """Highlight ``code`` (pygments, Python) into tokens; ``blank``: its one occurrence becomes ``BLANK``.

    The blank is lexed as a placeholder identifier, so the code around it still highlights as usual.
    Kept per process (``render.prelex`` fills it while workers start); each call gets its own lists.
    """
    return [t[:] if isinstance(t, list) else t for t in _code_tokens(code, blank)]


@lru_cache(maxsize=16384)
def _code_tokens(code: str, blank: str | None) -> list[Token]:
    span = cloze_span(code, blank)
    code = shown_code(code)
    if not code:
        return []
    placeholder = None
    if span is not None:
        placeholder = "tnq_blank_"
        while placeholder in code:
            placeholder += "_"
        code = code[: span[0]] + placeholder + code[span[1] :]
    out: list[Token] = []
    # lexed with the newline the Anki field's highlighter adds (``fields.code_html``): one lexing
    # serves both; the newline is taken off the last token again
    lexed = list(lex_python(code + "\n"))
    cls, text = lexed[-1]
    lexed[-1] = (cls, text[:-1])
    for cls, text in lexed:
        pieces = text.split(placeholder) if placeholder else [text]
        for i, piece in enumerate(pieces):
            if i:
                out.append(BLANK_TOKEN)
            if piece:
                _push(out, cls, piece)
    return out


def _push(out: list[Token], cls: str, text: str) -> None:
    last = out[-1] if out else None
    if cls in _plain_classes() or text.isspace():
        if isinstance(last, str):
            out[-1] = last + text
        else:
            out.append(text)
    elif isinstance(last, list) and last[0] == cls:
        last[1] += text
    else:
        out.append([cls, text])


@lru_cache(maxsize=1)
def _plain_classes() -> frozenset[str]:
    """Token classes that look like plain text in both styles (names, punctuation): sent as text."""
    from pygments.styles import get_style_by_name
    from pygments.token import STANDARD_TYPES, Token

    styles = [get_style_by_name(name) for name in (LIGHT_STYLE, DARK_STYLE)]
    return frozenset(cls for ttype, cls in STANDARD_TYPES.items()
                     if all(st.style_for_token(ttype) == st.style_for_token(Token) for st in styles))


def json_for_script(data: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&``.

    ``</script>`` or ``<!--`` in a card cannot end or change the element. NaN and infinities, which
    JSON lacks, become ``{"$tnq:float": "nan" | "inf" | "-inf"}`` (quiz.js turns them back).
    """
    text = json.dumps(_finite(data), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _JSON_ESCAPE_RE.sub(lambda m: _JSON_ESCAPES[m.group()], text)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return {FLOAT_KEY: "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def content_security_policy(*, scripts: tuple[str, ...], styles: tuple[str, ...]) -> str:
    """No network, no other file, no script or style but ours (by hash)."""

    def hashes(blocks: tuple[str, ...]) -> str:
        return " ".join(
            "'sha256-" + base64.b64encode(hashlib.sha256(b.encode("utf-8")).digest()).decode() + "'"
            for b in blocks)

    return "; ".join((
        "default-src 'none'",
        f"script-src {hashes(scripts)}",
        f"style-src {hashes(styles)}",
        "base-uri 'none'",
        "form-action 'none'",
    ))


def _inline_safe(text: str, tag: str) -> str:
    """Text for an inline <script>/<style>: ``</script`` (any case) cannot close the element early."""
    return re.sub(rf"</(?={tag})", r"<\\/", text, flags=re.IGNORECASE)


def _title(deck: Deck) -> str:
    roots = sorted({bc.card.deck.split("::", 1)[0] for bc in deck.cards if bc.status == "ok"})
    return "tnquiz: " + (", ".join(roots) if roots and len(roots) <= 3 else "quiz")
