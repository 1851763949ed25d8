"""The question side of a card (generator/render/question.py), and that every output shows it.

The cross-output test renders the same cards through the real Anki client (the rendered question
HTML of each imported card), the HTML page in a real browser, and the terminal quiz's own rendering
function, and checks that each shows the question, the setup, the code with its blank at the same
place, the result a cloze blank must produce and the option labels.
"""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from anki.collection import Collection
from anki_helpers import anki_collection, import_apkg, sample_deck, visible_text  # noqa: F401  (the `col` fixture)
from rich.console import Console
from test_html import CONTRAST_JS, Page

from generator.grading import grade
from generator.model import Answer, BuiltCard, Card, Deck
from generator.quiz import ui
from generator.quiz.scheduler import make_scheduler, new_card, outcomes
from generator.quiz.session import Counts, Item, Reveal
from generator.render.anki import write_apkg
from generator.render.html import write_html
from generator.render.question import (
    BLANK,
    ERROR_SUMMARY_CHARS,
    accepted_forms,
    blanked,
    cloze_span,
    option_label,
    question_side,
    source_line,
    summarize_error,
)
from generator.sources import Note, SourcePart, split_source, titles_for

# torch.load's message in 2.6+ (shortened): the real one is about 1,000 characters.
LONG_LOAD_ERROR = (
    "UnpicklingError: Weights only load failed. This file can still be loaded, to do so you have two "
    "options, do those steps only if you trust the source of the checkpoint. \n\t(1) In PyTorch 2.6, "
    "we changed the default value of the `weights_only` argument in `torch.load` from `False` to "
    "`True`. Re-running `torch.load` with `weights_only` set to `False` will likely succeed.\n\t(2) "
    "Alternatively, to load with `weights_only=True` please check the recommended steps.\n"
    "WeightsUnpickler error: Unsupported global: GLOBAL __main__.Net was not an allowed global by "
    "default.\n\nCheck the documentation of torch.load to learn more about types accepted by default "
    "with weights_only https://pytorch.org/docs/stable/generated/torch.load.html."
)
LINSPACE_ERROR = (
    "TypeError: linspace() received an invalid combination of arguments - got (int, int), but expected "
    "one of:\n * (Number start, Number end, int steps, *, Tensor out = None, torch.dtype dtype = None, "
    "torch.layout layout = None, torch.device device = None, bool pin_memory = False, bool "
    "requires_grad = False)\n * (Tensor start, Tensor end, int steps, *, Tensor out = None, ...)\n"
)

STATE_DICT_ERROR = ('RuntimeError: Error(s) in loading state_dict for Linear:\n\tMissing key(s) in '
                    'state_dict: "weight", "bias". \n\tUnexpected key(s) in state_dict: "fc.weight", '
                    '"fc.bias". ')


NOW = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)


def error(text: str) -> Answer:
    return Answer(type="error", text=text, exception=text.split(":", 1)[0])


# --------------------------------------------------------------------------------------------------
# The module's rules


def test_cloze_span_is_the_first_occurrence_in_the_shown_code() -> None:
    code = "a = x.sum(dim=1)\nb = x.sum(dim=1)\n\n\n"
    assert cloze_span(code, "dim=1") == (10, 15)
    assert blanked(code, "dim=1") == f"a = x.sum({BLANK})\nb = x.sum(dim=1)"
    assert cloze_span(code, "dim=2") is None and cloze_span(code, None) is None
    assert blanked(code, "dim=2") == code.rstrip()


def test_source_is_split_one_way_for_the_loader_and_every_output() -> None:
    """`;` separates parts (empty ones dropped), the first `#` a section; the loader's check
    (titles_for) and the shown line (source_line) read the same parts."""
    source = " a_1.txt # 3.3 Pooling ;; b.txt#; https://x.org/a#cat ; free text#1 ; a_1.txt"
    assert split_source(source) == [
        SourcePart("a_1.txt # 3.3 Pooling", "a_1.txt", "3.3 Pooling"), SourcePart("b.txt#", "b.txt", ""),
        SourcePart("https://x.org/a#cat", "https://x.org/a", "cat"), SourcePart("free text#1", "free text", "1"),
        SourcePart("a_1.txt", "a_1.txt", None)]
    notes = {"a_1.txt": Note("a_1.txt", "A", sections=("3.3 Pooling",)), "b.txt": Note("b.txt", "B")}
    titles, wrong = titles_for(source, notes)
    assert titles == (("a_1.txt", "A"), ("b.txt", "B"))
    assert wrong == ["expected a note file listed in sources.conf, found `free text`"]
    card = Card(id="s", deck="D", file="f.yaml", line=1, question="?", kind="value", source=source,
                source_titles=titles)
    assert source_line(card) == "A § 3.3 Pooling (a_1.txt); B (b.txt); https://x.org/a#cat; free text#1; A (a_1.txt)"
    assert titles_for("a_1.txt#9.9", notes)[1] == [
        "expected a section of `a_1.txt` listed in sources.conf, found `9.9`"]


def test_option_labels_are_what_a_learner_types() -> None:
    assert [option_label(i) for i in range(4)] == ["1", "2", "3", "4"]
    options = ({"text": "a", "correct": False}, {"text": "b", "correct": True})
    assert grade("choice", None, option_label(1), list(options), None).correct
    assert not grade("choice", None, option_label(0), list(options), None).correct


def test_long_errors_are_summarised_to_the_type_and_the_line_that_matters() -> None:
    s = summarize_error(error(LONG_LOAD_ERROR))
    assert s.head == "UnpicklingError: Weights only load failed." and s.folded
    assert s.full == LONG_LOAD_ERROR.strip()
    s = summarize_error(error(LINSPACE_ERROR))  # the first line introduces the next: both
    assert s.head.startswith("TypeError: linspace() received an invalid combination of arguments - got "
                             "(int, int), but expected one of: (Number start, Number end, int steps,")
    assert s.head.endswith(" …") and s.folded
    s = summarize_error(error(STATE_DICT_ERROR))
    assert s.head == ('RuntimeError: Error(s) in loading state_dict for Linear: Missing key(s) in '
                      'state_dict: "weight", "bias".') and s.folded
    short = "RuntimeError: view size is not compatible with input tensor's size and stride"
    assert summarize_error(error(short)).head == short and not summarize_error(error(short)).folded
    # one long line without a sentence end: cut at a word, marked as cut
    s = summarize_error(error("ValueError: " + "word " * 60))
    assert s.folded and s.head.endswith(" …") and len(s.head) < ERROR_SUMMARY_CHARS + 20


def test_accepted_forms_are_graded_right_everywhere() -> None:
    shape = Answer(type="shape", text="torch.Size([3, 4, 1])", shape=(3, 4, 1))
    assert accepted_forms("shape", shape) == ("3x4x1", "(3, 4, 1)", "torch.Size([3, 4, 1])")
    dtype = Answer(type="dtype", text="torch.int64", dtype="torch.int64")
    assert accepted_forms("dtype", dtype) == ("int64", "torch.int64", "long")
    scalar = Answer(type="shape", text="torch.Size([])", shape=())
    one = Answer(type="shape", text="torch.Size([5])", shape=(5,))
    for kind, answer in (("shape", shape), ("dtype", dtype), ("shape", scalar), ("shape", one)):
        forms = accepted_forms(kind, answer)
        assert forms and all(grade(kind, answer.to_dict(), f, None, None).correct for f in forms), forms


# --------------------------------------------------------------------------------------------------
# Every output shows the same question side


def question_deck() -> Deck:
    """The hand-built sample deck plus a cloze card whose blank must produce a long error."""
    base = sample_deck()
    extra = BuiltCard(
        card=Card(id="load-cloze", deck="PyTorch::Misc", file="m.yaml", line=50, kind="cloze",
                  question="Fill in the blank so that loading fails as shown.",
                  setup="import torch", code="m = torch.load(path, weights_only=True)\n",
                  cloze="weights_only=True", raises="UnpicklingError"),
        status="ok", answer=error(LONG_LOAD_ERROR), torch_version="2.5.0+cpu", ran_on="cpu")
    return dataclasses.replace(base, cards=(*base.cards, extra))


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def expected_pieces(bc: BuiltCard, blank: str) -> list[str]:
    """What a learner must see before answering, in order, as flat text."""
    side = question_side(bc)
    pieces = [flat(side.question.replace("`", ""))]
    if side.setup:
        pieces.append(flat(side.setup))
    if side.code:
        pieces.append(flat(side.code.replace(BLANK, blank)))
    if side.given is not None:
        pieces += [side.given.label, flat(side.given.text)]
    for label, text in side.options:
        pieces += [label, flat(text)]
    return pieces


def assert_shows(output: str, card_id: str, shown: str, pieces: list[str]) -> None:
    shown = flat(shown)
    pos = 0
    for piece in pieces:
        at = shown.find(piece, pos)
        assert at >= 0, f"{output} [{card_id}]: {piece!r} missing (in order) from {shown!r}"
        pos = at + len(piece)


def anki_questions(col: Collection, deck: Deck, out: Path) -> dict[str, str]:
    import_apkg(col, write_apkg(deck, out)[0])
    shown = {}
    for cid in col.find_cards(""):
        card = col.get_card(cid)
        q = re.sub(r"<style>.*?</style>", "", card.question(), flags=re.S)
        q = re.sub(r"<details.*?</details>", "", q, flags=re.S)  # folded: not shown until opened
        shown[card.note()["Id"]] = visible_text(q)
    return shown


def page_questions(browser: Any, deck: Deck, out: Path) -> dict[str, str]:
    p = Page(browser, write_html(deck, out).as_uri(), viewport={"width": 1000, "height": 900})
    shown: dict[str, str] = {}
    try:
        wanted = {bc.id for bc in deck.cards if bc.status == "ok"}
        for _ in range(len(wanted)):
            cid = p.card_id()
            # the blank slot reads "____" here, so that the pieces compare as text
            shown[cid] = p.page.evaluate("""() => {
                const a = document.querySelector('#card article').cloneNode(true);
                a.querySelectorAll('.blank').forEach(b => b.replaceWith('____'));
                a.querySelectorAll('.vh, form').forEach(e => e.remove());
                return a.textContent; }""")
            for opt in p.page.query_selector_all("#card .choice label"):
                shown[cid] += " " + opt.inner_text()
            p.page.click("#b-skip")
        assert set(shown) == wanted
    finally:
        p.close()
    return shown


def terminal_question(bc: BuiltCard) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None, highlight=False)
    ui.render_question(console, Item(card=bc, state=None), Counts(0, 0, 1, 0, None))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    return str(out)


@pytest.mark.browser
def test_every_output_shows_the_same_question_side(tmp_path: Path, col: Collection,
                                                   browser: Any) -> None:
    deck = question_deck()
    ok = [bc for bc in deck.cards if bc.status == "ok"]
    anki = anki_questions(col, deck, tmp_path / "anki")
    page = page_questions(browser, deck, tmp_path / "html")
    for bc in ok:
        assert_shows("anki", bc.id, anki[bc.id], expected_pieces(bc, "[...]"))
        assert_shows("page", bc.id, page[bc.id], expected_pieces(bc, BLANK))
        assert_shows("terminal", bc.id, terminal_question(bc), expected_pieces(bc, BLANK))
        if bc.card.kind == "cloze":  # the blank hides its text in every output
            hidden = flat(bc.card.cloze or "")
            for output, text in (("anki", anki[bc.id]), ("page", page[bc.id]),
                                 ("terminal", terminal_question(bc))):
                code = flat(question_side(bc).code)
                assert hidden not in code and code.split(BLANK)[0] in flat(text), (output, bc.id)
    # the cloze cards show what the blank must produce: the shape, the printed text, the error's head
    sides = {bc.id: question_side(bc) for bc in ok}
    assert sides["cat-cloze"].given is not None and sides["cat-cloze"].given.text == "torch.Size([2, 7])"
    assert sides["dict-cloze"].given is not None and sides["dict-cloze"].given.label == "Prints"
    load = sides["load-cloze"].given
    assert load is not None and (load.label, load.text) == ("Raises", "UnpicklingError: Weights only load failed.")
    assert [label for label, _ in sides["stack-choice"].options] == ["1", "2"]
    # the full error message is not on any question side (it is folded on the answer side)
    for text in (anki["load-cloze"], page["load-cloze"], terminal_question(ok[-1])):
        assert "Unsupported global" not in text


@pytest.mark.browser
@pytest.mark.parametrize("night", [False, True])
def test_anki_cards_meet_wcag_aa_contrast(tmp_path: Path, col: Collection, browser: Any,
                                          night: bool) -> None:
    """Every text of every card's question and answer, as Anki renders them with the note types'
    stylesheet, in day and night mode (Anki puts ``card nightMode`` on the body)."""
    import_apkg(col, write_apkg(question_deck(), tmp_path / "anki")[0])
    ctx = browser.new_context(viewport={"width": 800, "height": 900})
    page = ctx.new_page()
    problems = []
    try:
        for cid in col.find_cards(""):
            card = col.get_card(cid)
            for side, fragment in (("question", card.question()), ("answer", card.answer())):
                page.set_content(f'<!DOCTYPE html><html><body class="card{" nightMode" if night else ""}">'
                                 f"{fragment}</body></html>")
                page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
                problems += [(card.note()["Id"], side, x) for x in page.evaluate(CONTRAST_JS, 4.5)]
    finally:
        ctx.close()
    assert problems == [], problems


@pytest.mark.browser
def test_every_output_shows_the_same_source_line(tmp_path: Path, col: Collection, browser: Any) -> None:
    """A note the sources table knows reads "TITLE § SECTION (FILE)"; a URL stays as written."""
    base = sample_deck()
    bc = dataclasses.replace(base.cards[0], card=dataclasses.replace(
        base.cards[0].card, source="a_1.txt#3.3 Pooling Layer; https://pytorch.org/docs/#cat",
        source_titles=(("a_1.txt", "PyTorch 笔记 (\"PyTorch notes\")"),)))
    deck = dataclasses.replace(base, cards=(bc,))
    line = source_line(bc.card)
    assert line == 'PyTorch 笔记 ("PyTorch notes") § 3.3 Pooling Layer (a_1.txt); https://pytorch.org/docs/#cat'
    import_apkg(col, write_apkg(deck, tmp_path / "anki")[0])
    (cid,) = col.find_cards("")
    anki = visible_text(re.sub(r"<style>.*?</style>", "", col.get_card(cid).answer(), flags=re.S))
    p = Page(browser, write_html(deck, tmp_path / "html").as_uri(), viewport={"width": 1000, "height": 900})
    try:
        p.page.click("#b-show")
        page = p.page.inner_text(".src")
    finally:
        p.close()
    console = Console(file=io.StringIO(), width=300, color_system=None, highlight=False)
    ui.render_reveal(console, Reveal(item=Item(card=bc, state=None), typed="", verdict=None,
                                     outcomes=outcomes(make_scheduler(fuzz=False), new_card(bc.id, NOW), NOW),
                                     proposed=None, reviewed_at=NOW, answer_ms=None))
    terminal = console.file.getvalue()  # type: ignore[attr-defined]
    for output, text in (("anki", anki), ("page", page), ("terminal", terminal)):
        assert f"Source: {line}" in flat(text), (output, flat(text))
