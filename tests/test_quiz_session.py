"""Queue building and the session state machine: pure logic with a fixed clock, fuzzing off."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from generator.model import Answer, BuiltCard
from generator.quiz.scheduler import Rating, make_scheduler, new_card, outcomes
from generator.quiz.session import (
    DeckError,
    Session,
    build_queue,
    in_deck,
    is_self_graded,
    load_deck,
    load_index,
    select_cards,
)
from generator.quiz.store import Store, StoredState

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)
CARDS = Path(__file__).parent / "data" / "quiz_cards.json"


@pytest.fixture
def cards() -> list[BuiltCard]:
    return list(load_deck(CARDS).cards)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "r.db")
    yield s
    s.close()


def _state(card: BuiltCard, due: datetime, answer_hash: str | None = None) -> StoredState:
    """A reviewed card (graduated with Easy a while ago), due at ``due``."""
    c = outcomes(make_scheduler(fuzz=False), new_card(card.id, due - timedelta(days=8)),
                 due - timedelta(days=8))[Rating.Easy].card
    c.due = due
    return StoredState(card.id, c, card.card.deck, answer_hash or card.answer_hash, 1, 0)


def test_load_deck_errors(tmp_path: Path) -> None:
    with pytest.raises(DeckError, match=r"run `tnquiz build` first"):
        load_deck(tmp_path / "nope.json")
    bad = tmp_path / "cards.json"
    bad.write_text("{not json")
    with pytest.raises(DeckError, match="cannot read"):
        load_deck(bad)
    bad.write_text('{"format": 99, "cards": []}')
    with pytest.raises(DeckError, match=r"not a tnquiz cards\.json"):
        load_deck(bad)


def test_only_ok_cards_and_filters(cards: list[BuiltCard]) -> None:
    ok = select_cards(cards)
    assert len(cards) == 10 and len(ok) == 8
    assert all(c.status == "ok" for c in ok)
    shapes = select_cards(cards, deck="pytorch::tensors::shapes")
    assert {c.id for c in shapes} == {"squeeze-dim-1", "stack-shape-choice", "cat-which-dim", "print-size"}
    assert len(select_cards(cards, deck="PyTorch::Tensors")) == 8
    assert select_cards(cards, deck="PyTorch::Tensors::Shape") == []  # whole :: parts only
    assert {c.id for c in select_cards(cards, tags=["dtypes", "views"])} == {
        "arange-dtype", "view-noncontiguous"}
    assert {c.id for c in select_cards(cards, deck="PyTorch::Tensors::Shapes", tags=["cat"])} == {
        "cat-which-dim"}
    assert in_deck("A::B::C", "a::b") and not in_deck("A::BC", "A::B")


def test_due_first_then_new_in_deck_order(cards: list[BuiltCard]) -> None:
    ok = select_cards(cards)
    by_id = {c.id: c for c in ok}
    states = {
        "sum-value": _state(by_id["sum-value"], NOW - timedelta(days=1)),
        "arange-dtype": _state(by_id["arange-dtype"], NOW - timedelta(days=3)),  # most overdue
        "print-size": _state(by_id["print-size"], NOW + timedelta(days=2)),  # not due
        "eye-tensor": _state(by_id["eye-tensor"], NOW + timedelta(minutes=5)),  # learn-ahead
    }
    q = build_queue(ok, states, NOW)
    assert [i.id for i in q.items] == [
        "arange-dtype", "sum-value", "eye-tensor",  # due, most overdue first
        "squeeze-dim-1", "view-noncontiguous", "stack-shape-choice", "cat-which-dim"]  # new
    assert q.due == 3 and q.new == 4 and q.new_available == 4 and q.hidden == 0
    assert not any(i.answer_changed for i in q.items)


def test_new_limit_counts_today_and_limit_cuts(cards: list[BuiltCard]) -> None:
    ok = select_cards(cards)
    states = {ok[0].id: _state(ok[0], NOW - timedelta(hours=1))}
    q = build_queue(ok, states, NOW, new_limit=5, new_today=3)
    assert [i.is_new for i in q.items] == [False, True, True]
    assert build_queue(ok, states, NOW, new_limit=5, new_today=9).new == 0
    assert build_queue(ok, states, NOW, new_limit=0).new == 0
    q = build_queue(ok, states, NOW, limit=2)
    assert [i.id for i in q.items] == [ok[0].id, ok[1].id]
    assert q.due == 1


def test_removed_cards_are_hidden_and_changed_answers_flagged(cards: list[BuiltCard]) -> None:
    ok = select_cards(cards)
    gone = dataclasses.replace(ok[0], card=dataclasses.replace(ok[0].card, id="removed-card"))
    states = {
        "removed-card": _state(gone, NOW - timedelta(days=1)),
        ok[1].id: _state(ok[1], NOW - timedelta(days=1), answer_hash="an-older-answer"),
        ok[2].id: _state(ok[2], NOW - timedelta(days=1)),
    }
    q = build_queue(ok, states, NOW, all_cards=[(c.id, c.card.deck) for c in cards])
    assert "removed-card" not in [i.id for i in q.items]
    assert q.hidden == 1
    flagged = {i.id: i.answer_changed for i in q.items if not i.is_new}
    assert flagged == {ok[1].id: True, ok[2].id: False}
    assert q.to_dict()["counts"]["hidden"] == 1


def test_answer_hash_changes_with_the_answer(cards: list[BuiltCard]) -> None:
    c = cards[0]
    changed = dataclasses.replace(c, answer=Answer("shape", "torch.Size([1, 3])", shape=(1, 3)))
    assert changed.answer_hash != c.answer_hash
    assert dataclasses.replace(c, stdout="x").answer_hash == c.answer_hash


def test_self_graded(cards: list[BuiltCard]) -> None:
    by_id = {c.id: c for c in cards}
    assert is_self_graded(by_id["eye-tensor"])  # a 3x3 tensor
    assert not is_self_graded(by_id["sum-value"])
    assert not is_self_graded(by_id["print-size"])  # one short line of output
    assert not is_self_graded(by_id["squeeze-dim-1"])


def test_session_rates_requeues_and_undoes(cards: list[BuiltCard], store: Store) -> None:
    ok = select_cards(cards, deck="PyTorch::Tensors::Shapes")
    s = Session(build_queue(ok, {}, NOW), store, make_scheduler(fuzz=False), session_id="t")
    assert s.counts(NOW) == (0, 0, 4, 0, None)
    first = s.current
    assert first is not None and first.id == "squeeze-dim-1"

    r = s.reveal(" (1, 2, 3) ", NOW, 1200)
    assert r.verdict and r.proposed == Rating.Good
    s.rate(r, Rating.Good, 3400)  # Good on a new card: 10m learning step, due again in this session
    assert store.reviews()[0].duration_ms == 3400 and store.reviews()[0].answer_ms == 1200
    # due in 10 minutes: not due now, but asked in this session (learn-ahead)
    assert s.counts(NOW) == (0, 1, 3, 1, timedelta(minutes=10))
    assert s.counts(NOW + timedelta(minutes=10)) == (1, 0, 3, 1, None)
    assert [i.id for i in s.pending][-1] == "squeeze-dim-1"

    r = s.reveal("3", NOW)  # stack-shape-choice: option 3 is wrong
    assert r.item.id == "stack-shape-choice" and not r.verdict and r.proposed == Rating.Again
    s.rate(r, Rating.Easy)  # the learner may overrule: Easy graduates it, not re-queued
    assert s.counts(NOW)[:4] == (0, 1, 2, 2)
    assert store.review_count() == 2
    assert store.reviews()[-1].correct is False

    undone = s.undo()
    assert undone is not None and undone.item.id == "stack-shape-choice" and undone.rating == Rating.Easy
    assert s.current is undone.item and store.review_count() == 1
    assert s.counts(NOW)[:4] == (0, 1, 3, 1)
    assert "stack-shape-choice" not in store.states()

    s.skip()  # stack-shape-choice skipped: not rated
    assert s.current is not None and s.current.id == "cat-which-dim"
    r = s.reveal("dim=1", NOW)
    assert r.verdict and r.verdict.expected == "dim=1"
    s.rate(r, Rating.Again)
    assert [i.id for i in s.pending] == ["print-size", "squeeze-dim-1", "cat-which-dim"]
    assert s.undo() is not None
    assert [i.id for i in s.pending] == ["cat-which-dim", "print-size", "squeeze-dim-1"]
    summary = s.summary()
    assert (summary.rated, summary.right, summary.skipped) == (1, 1, 1)
    assert summary.by_rating == {"Good": 1}


def test_rating_what_was_shown(cards: list[BuiltCard], store: Store) -> None:
    ok = select_cards(cards)
    s = Session(build_queue(ok, {}, NOW), store, make_scheduler(fuzz=True), session_id="t")
    r = s.reveal("", NOW)  # nothing typed: wrong
    assert r.verdict is not None and not r.verdict and r.proposed == Rating.Again
    shown = r.outcomes[Rating.Hard].card.due
    s.rate(r, Rating.Hard)
    assert store.states()[r.item.id].card.due == shown  # even with fuzzing on
    with pytest.raises(ValueError, match="not the one on screen"):
        s.rate(r, Rating.Hard)


def test_self_graded_cards_propose_nothing_unless_right(cards: list[BuiltCard], store: Store) -> None:
    eye = [c for c in cards if c.id == "eye-tensor"]
    s = Session(build_queue(eye, {}, NOW), store, make_scheduler(fuzz=False))
    r = s.reveal("", NOW)
    assert r.verdict is None and r.proposed is None
    r = s.reveal("[[1,0,0],[0,1,0],[0,0,1]]", NOW)
    assert r.verdict and r.proposed == Rating.Good
    r = s.reveal("no idea", NOW)
    assert r.verdict is not None and not r.verdict and r.proposed is None
    s.rate(r, Rating.Good)
    assert store.reviews()[0].correct is None  # self-graded


def test_queue_json(cards: list[BuiltCard]) -> None:
    q = build_queue(select_cards(cards), {}, NOW, new_limit=2)
    d = q.to_dict()
    assert d["counts"]["new_in_queue"] == 2 and d["counts"]["new_available"] == 8
    assert d["queue"][0] == {
        "id": "squeeze-dim-1", "deck": "PyTorch::Tensors::Shapes", "kind": "shape",
        "tags": ["shapes", "squeeze"], "question": "What is the shape of `torch.squeeze(a, 1)`?",
        "new": True, "due": None, "answer_changed": False, "self_graded": False}


def test_load_index(tmp_path: Path) -> None:
    idx = load_index(CARDS)
    assert idx[0] == ("squeeze-dim-1", "PyTorch::Tensors::Shapes", "ok")
    assert [e.status for e in idx].count("ok") == 8
    bad = tmp_path / "cards.json"
    bad.write_text('{"format": 2, "cards": []}')
    with pytest.raises(DeckError, match="not supported"):
        load_index(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(DeckError, match="not a tnquiz"):
        load_index(bad)
