"""The rich screens, driven by a scripted ``ask`` (no terminal needed)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text

from generator.quiz import ui
from generator.quiz.scheduler import Rating, make_scheduler, new_card, outcomes
from generator.quiz.session import Session, build_queue, load_deck, select_cards
from generator.quiz.store import Store, StoredState, StoreError

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)
CARDS = Path(__file__).parent / "data" / "quiz_cards.json"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "r.db")
    yield s
    s.close()


def _run(session: Session, answers: list[str]) -> tuple[str, list[str]]:
    console = Console(file=io.StringIO(), width=100, color_system=None, highlight=False)
    prompts: list[str] = []
    script = iter(answers)

    def ask(prompt: Text) -> str:
        prompts.append(prompt.plain)
        console.print(prompt, end="")
        try:
            typed = next(script)
        except StopIteration:
            raise EOFError from None
        console.print(typed)
        return typed

    ui.run(session, console, clock=lambda: NOW, ask=ask)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    return out, prompts


def _session(store: Store, ids: list[str], states: dict[str, StoredState] | None = None) -> Session:
    cards = [c for c in select_cards(load_deck(CARDS).cards) if c.id in ids]
    cards.sort(key=lambda c: ids.index(c.id))
    return Session(build_queue(cards, states or {}, NOW), store, make_scheduler(fuzz=False))


def test_inline_code_and_cloze_blank() -> None:
    t = ui.inline("What is `a.shape` of `b`?")
    assert t.plain == "What is a.shape of b?"
    assert [t.plain[s.start:s.end] for s in t.spans] == ["a.shape", "b"]
    assert ui.inline("[bold]not markup[/]").plain == "[bold]not markup[/]"


def test_every_kind_on_screen(store: Store) -> None:
    ids = ["stack-shape-choice", "cat-which-dim", "view-noncontiguous", "eye-tensor", "print-size"]
    s = _session(store, ids)
    out, prompts = _run(s, ["?", "2", "", "dim=0", "", "IndexError", "3", "", "x", "3", "q"])
    assert "1. torch.Size([4, 3])" in out and "✓ 2. torch.Size([2, 2, 3])" in out
    assert "z = torch.cat([x, y], ____)" in out  # the cloze blank
    given = out.split("Fill in the blank")[1].split("z = torch.cat")[0]
    assert "Given:" in given and "x = torch.zeros(2, 3)" in given  # the setup, as context
    assert "✗ Wrong  you answered dim=0" in out and "Answer: dim=1" in out
    assert "z = torch.cat([x, y], dim=1)" in out
    assert "Answer: RuntimeError: view size is not compatible" in out
    assert "Use .reshape or .contiguous() first." in out
    assert "Enter alone shows the answer" in out  # the help
    assert "[[1., 0., 0.]" not in out.split("Think of the answer")[0]  # eye: not shown before
    assert "Did you get it? 1-4: " in prompts
    assert "1-4: rate (Enter accepts the proposed one)" in out  # Enter with nothing proposed
    assert prompts[0] == "Option number? " and prompts[-1] == "What does it print? "
    assert "Reviewed 4 cards: 1 right, 2 wrong; 1 self-graded." in out
    assert [r.rating for r in store.reviews()] == [3, 1, 3, 3]


def test_changed_answer_is_flagged(store: Store) -> None:
    card = next(c for c in load_deck(CARDS).cards if c.id == "arange-dtype")
    old = outcomes(make_scheduler(fuzz=False), new_card(card.id, NOW - timedelta(days=9)),
                   NOW - timedelta(days=9))[Rating.Easy].card
    states = {card.id: StoredState(card.id, old, card.card.deck, "an-older-answer", 1, 0)}
    out, _ = _run(_session(store, [card.id], states), ["int64", ""])
    assert out.count("the verified answer changed since your last review") == 2  # question + answer
    assert "Due 1 · New 0 · Done 0" in out
    assert store.states()[card.id].answer_hash == card.answer_hash  # this review saw the new answer


def test_eof_quits_with_a_summary(store: Store) -> None:
    out, _ = _run(_session(store, ["squeeze-dim-1"]), [])
    assert "Reviewed 0 cards." in out and "Left in this session: 0 due, 1 new." in out


def test_undo_with_nothing_to_undo_and_skip(store: Store) -> None:
    out, _ = _run(_session(store, ["squeeze-dim-1", "arange-dtype"]), ["u", "s", "int64", "s"])
    assert "Nothing to undo in this session." in out
    assert "Reviewed 0 cards.; skipped 2" not in out
    assert "Reviewed 0 cards; skipped 2." in out
    assert "Nothing more to review for now." in out
    assert store.review_count() == 0


def test_a_store_failure_mid_session_is_one_error_after_the_summary(store: Store) -> None:
    """A rating that cannot be saved (here: the database went away) stops the session with the
    summary printed and a StoreError (the CLI turns it into one line), never a traceback."""
    session = _session(store, ["squeeze-dim-1", "arange-dtype"])
    console = Console(file=io.StringIO(), width=100, color_system=None, highlight=False)
    answers = iter(["1x2x3", "", "int64", ""])

    def ask(prompt: Text) -> str:
        if prompt.plain.startswith("Rating") and store.review_count() == 1:
            store.db.close()  # the second rating cannot be saved
        return next(answers)

    with pytest.raises(StoreError, match=r"cannot write to the review database .*closed database"):
        ui.run(session, console, clock=lambda: NOW, ask=ask)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "Reviewed 1 card: 1 right, 0 wrong." in out
