"""Which cards to ask, in what order, and what a rating does: pure logic, no terminal and no clock.

:func:`build_queue` takes the built deck, the stored FSRS states and ``now``; :class:`Session` walks the
queue, grades answers with the shared rules (:func:`generator.grading.grade`), records ratings in a
:class:`~generator.quiz.store.Store` and can take them back (undo).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from generator.grading import Verdict, grade
from generator.model import FORMAT_VERSION, BuiltCard, Deck, Graded
from generator.quiz.clock import utc
from generator.quiz.scheduler import (
    Card,
    Outcome,
    Rating,
    Scheduler,
    new_card,
    outcomes,
)
from generator.quiz.store import Store, StoredState
from generator.quiz.terminal import might_need_escaping, visible, visible_data
from generator.select import in_deck as in_deck  # re-exported: the quiz tests use it
from generator.select import matches

DEFAULT_NEW_PER_DAY = 20
#: A card due within this much of now counts as due (like Anki's learn-ahead limit): a card rated
#: Again comes back later in the same session.
LEARN_AHEAD = timedelta(minutes=20)
#: Answers longer than this (or spanning lines) are self-graded: nobody types a 3x4 tensor.
SELF_GRADE_CHARS = 40


class DeckError(Exception):
    """``cards.json`` missing or unreadable: one line for the user."""


def _read_json(path: Path) -> Any:
    """The parsed file, every string safe to show on a terminal (:mod:`generator.quiz.terminal`)."""
    if not path.is_file():
        raise DeckError(
            f"no built deck at {path}: run `tnquiz build` first (or pass --cards FILE)")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise DeckError(f"cannot read {path}: {e}; rebuild it with `tnquiz build`") from e
    return visible_data(data) if might_need_escaping(text) else data


def load_deck(path: Path) -> Deck:
    """The built deck, every string made safe to show on a terminal (:mod:`generator.quiz.terminal`):
    what is shown and what is graded is the same text."""
    data = _read_json(path)
    try:
        return Deck.from_dict(data)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise DeckError(f"{path} is not a tnquiz cards.json ({e}); rebuild it with `tnquiz build`") from e


class DeckEntry(NamedTuple):
    id: str
    deck: str
    status: str


def load_index(path: Path) -> list[DeckEntry]:
    """Only the id, deck and status of every card (``tnquiz stats``: no need to build the cards)."""
    data = _read_json(path)
    try:
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"format {data.get('format')!r} is not supported (expected {FORMAT_VERSION})")
        return [DeckEntry(c["id"], c["deck"], c["status"]) for c in data["cards"]]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise DeckError(f"{path} is not a tnquiz cards.json ({e}); rebuild it with `tnquiz build`") from e


def root_deck(deck: str) -> str:
    """The top-level deck (``PyTorch`` for ``PyTorch::Tensors::Shapes``): what a built deck is called,
    and what the daily new-card limit and the statistics are kept per."""
    return deck.split("::", 1)[0].strip()


def select_cards(cards: Iterable[BuiltCard], deck: str | None = None,
                 tags: Sequence[str] = ()) -> list[BuiltCard]:
    """The quizzable cards: status ``ok``, in ``deck`` (or a sub-deck), carrying any of ``tags``."""
    return [c for c in cards
            if c.status == "ok" and c.answer is not None and matches(c.card.deck, c.card.tags, deck, tags)]


def is_self_graded(card: BuiltCard) -> bool:
    """Long tensors and printed output are self-graded: shown, then "did you get it?"."""
    if card.card.kind in ("choice", "cloze", "shape", "dtype", "error", "exercise") or card.answer is None:
        return False
    text = card.answer.text.strip()
    return "\n" in text or len(text) > SELF_GRADE_CHARS


@dataclass(frozen=True)
class Item:
    """One card in the queue, with its FSRS state (None: never reviewed)."""

    card: BuiltCard
    state: Card | None
    answer_changed: bool = False  # the verified answer changed since the last review

    @property
    def id(self) -> str:
        return self.card.id

    @property
    def is_new(self) -> bool:
        return self.state is None

    def to_dict(self) -> dict[str, Any]:
        c = self.card.card
        return {
            "id": c.id,
            "deck": c.deck,
            "kind": c.kind,
            "tags": list(c.tags),
            "question": c.question,
            "new": self.is_new,
            "due": self.state.due.isoformat() if self.state is not None else None,
            "answer_changed": self.answer_changed,
            "self_graded": is_self_graded(self.card),
        }


@dataclass(frozen=True)
class Queue:
    items: tuple[Item, ...]  # due cards (most overdue first), then new cards in deck order
    due: int  # due cards matching the filters (before --limit)
    new_available: int  # never-reviewed cards matching the filters
    new_today: int  # new cards already started today, in the decks of the selected cards
    new_limit: int  # the daily new-card limit, per deck
    hidden: int  # cards of this deck with a review history that are no longer in it (kept, not shown)
    new_today_by_deck: Mapping[str, int] = field(default_factory=dict)  # by root deck

    @property
    def new(self) -> int:
        return sum(1 for i in self.items if i.is_new)

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": {
                "due": self.due,
                "due_in_queue": sum(1 for i in self.items if not i.is_new),
                "new_in_queue": self.new,
                "new_available": self.new_available,
                "new_today": self.new_today,
                "new_today_by_deck": dict(self.new_today_by_deck),
                "new_limit": self.new_limit,
                "hidden": self.hidden,
                "total": len(self.items),
            },
            "queue": [i.to_dict() for i in self.items],
        }


def build_queue(cards: Sequence[BuiltCard], states: Mapping[str, StoredState], now: datetime, *,
                new_limit: int = DEFAULT_NEW_PER_DAY, new_today: Mapping[str, int] | int = 0,
                limit: int | None = None, all_cards: Iterable[tuple[str, str]] | None = None,
                learn_ahead: timedelta = LEARN_AHEAD) -> Queue:
    """Due cards first (most overdue first), then new cards up to what is left of the daily limit of
    their deck, all cut to ``limit``.

    ``cards`` are the quizzable cards (see :func:`select_cards`). The daily new-card limit is per
    root deck (:func:`root_deck`): ``new_today`` maps a deck to the new cards already started in it
    today (:meth:`Store.new_cards_since`; an int: that many in every root deck). ``all_cards`` is every (id, deck) of the built deck: a
    reviewed card of one of its root decks that is not in it counts as hidden (removed); cards of
    other decks sharing the database are not this deck's business."""
    cutoff = utc(now) + learn_ahead
    due: list[Item] = []
    new: list[Item] = []
    for c in cards:
        st = states.get(c.id)
        if st is None:
            new.append(Item(c, None))
        elif st.card.due <= cutoff:
            changed = st.answer_hash is not None and st.answer_hash != c.answer_hash
            due.append(Item(c, st.card, changed))
    due.sort(key=lambda i: i.state.due if i.state is not None else cutoff)
    roots = sorted({root_deck(c.card.deck) for c in cards})
    started = {r: new_today if isinstance(new_today, int) else
               sum(n for d, n in new_today.items() if root_deck(d) == r) for r in roots}
    left = {r: max(0, new_limit - n) for r, n in started.items()}
    new_items: list[Item] = []
    for item in new:
        r = root_deck(item.card.card.deck)
        if left[r] > 0:
            left[r] -= 1
            new_items.append(item)
    items = due + new_items
    if limit is not None:
        items = items[: max(0, limit)]
    everything = list(all_cards) if all_cards is not None else [(c.id, c.card.deck) for c in cards]
    deck_ids = {cid for cid, _ in everything}
    deck_roots = {root_deck(d) for _, d in everything}
    hidden = sum(1 for cid, st in states.items()
                 if cid not in deck_ids and root_deck(st.deck) in deck_roots)
    return Queue(tuple(items), len(due), len(new), sum(started.values()), new_limit, hidden, started)


@dataclass(frozen=True)
class Reveal:
    """The answer is shown: the verdict on what was typed and what each rating would do."""

    item: Item
    typed: str
    verdict: Verdict | None  # None: self-graded, or nothing typed on a self-graded card
    outcomes: dict[Rating, Outcome]
    proposed: Rating | None  # wrong: Again, right: Good; None where the learner must choose
    reviewed_at: datetime
    answer_ms: int | None  # from showing the card to showing the answer
    feedback: str | None = None  # an exercise: what the worker found running the attempt


class Counts(NamedTuple):
    """The status line: cards left in this session and cards done."""

    due_now: int  # reviewed cards due now
    due_later: int  # reviewed cards due later, within the learn-ahead limit (asked when nothing is due now)
    new: int
    done: int
    next_later: timedelta | None  # how long until the first of ``due_later`` is due


@dataclass(frozen=True)
class Rated:
    review_id: int
    item: Item  # the item as it was shown (restored by undo)
    rating: Rating
    correct: bool | None


@dataclass
class Summary:
    rated: int = 0
    right: int = 0
    wrong: int = 0
    self_graded: int = 0
    skipped: int = 0
    by_rating: dict[str, int] = field(default_factory=dict)


def grade_typed(card: BuiltCard, typed: str) -> Verdict:
    answer = card.answer.to_dict() if card.answer is not None else {}
    options = [o.to_dict() for o in card.options]
    return grade(card.card.kind, answer, typed, options, card.card.cloze, card.cloze_equivalents)


class Session:
    """A walk through a :class:`Queue`. ``current`` is the card on screen."""

    def __init__(self, queue: Queue, store: Store, scheduler: Scheduler, *, session_id: str = "",
                 learn_ahead: timedelta = LEARN_AHEAD) -> None:
        self.queue = queue
        self.pending: list[Item] = list(queue.items)
        self.store = store
        self.scheduler = scheduler
        self.session_id = session_id
        self.learn_ahead = learn_ahead
        self.history: list[Rated] = []
        self.skipped: list[Item] = []

    @property
    def current(self) -> Item | None:
        return self.pending[0] if self.pending else None

    def counts(self, now: datetime) -> Counts:
        """What is left: due now, due later (learn-ahead: a card just rated Good comes back in 10
        minutes), new; and how many were rated."""
        when = utc(now)
        later = [i.state.due - when for i in self.pending if i.state is not None and i.state.due > when]
        due = sum(1 for i in self.pending if not i.is_new)
        return Counts(due - len(later), len(later), len(self.pending) - due, len(self.history),
                      min(later) if later else None)

    def reveal(self, typed: str, now: datetime, answer_ms: int | None = None,
               graded: Graded | None = None) -> Reveal:
        """``graded``: an exercise's attempt as the worker graded it (None: nothing was typed)."""
        item = self.current
        if item is None:
            raise IndexError("no card left")
        if item.card.card.kind == "exercise":
            return self._reveal_exercise(item, typed, now, answer_ms, graded)
        typed = visible(typed.strip())  # graded as shown, like the deck's text
        verdict: Verdict | None = None
        if not is_self_graded(item.card) or typed:
            verdict = grade_typed(item.card, typed)
        if is_self_graded(item.card):
            # a typed guess at a long answer is only a hint: nothing is proposed unless it was right
            proposed = Rating.Good if verdict else None
        else:
            proposed = Rating.Good if verdict else Rating.Again
        state = item.state if item.state is not None else new_card(item.id, now)
        return Reveal(item, typed, verdict, outcomes(self.scheduler, state, now, answer_ms),
                      proposed, now, answer_ms)

    def _reveal_exercise(self, item: Item, typed: str, now: datetime, answer_ms: int | None,
                         graded: Graded | None) -> Reveal:
        """The rating follows the worker's verdict: right -> Good, wrong (or given up) -> Again;
        nothing is proposed when the attempt could not be graded."""
        code = visible(typed.rstrip())
        verdict: Verdict | None = None
        proposed: Rating | None = Rating.Again
        if graded is not None and graded.correct is not None:
            verdict = Verdict(graded.correct, item.card.card.solution.rstrip())
            proposed = Rating.Good if graded.correct else Rating.Again
        elif graded is not None:
            proposed = None
        state = item.state if item.state is not None else new_card(item.id, now)
        return Reveal(item, code, verdict, outcomes(self.scheduler, state, now, answer_ms), proposed, now,
                      answer_ms, visible(graded.message) if graded is not None else None)

    def rate(self, reveal: Reveal, rating: Rating, duration_ms: int | None = None) -> Rated:
        """Save the rating (committed at once) and move on; a card due again soon is re-queued.
        ``duration_ms``: the whole review, from showing the card to this rating."""
        item = reveal.item
        if self.current is not item:
            raise ValueError("that card is not the one on screen")
        outcome = reveal.outcomes[rating]
        correct = bool(reveal.verdict) if reveal.verdict is not None and not is_self_graded(item.card) else None
        review_id = self.store.record(
            item.id, before=item.state, after=outcome.card, log=outcome.log, deck=item.card.card.deck,
            answer_hash=item.card.answer_hash, correct=correct, session=self.session_id,
            duration_ms=duration_ms, answer_ms=reveal.answer_ms,
            attempt=reveal.typed if item.card.card.kind == "exercise" and reveal.typed else None,
            feedback=reveal.feedback)
        rated = Rated(review_id, item, rating, correct)
        self.history.append(rated)
        self.pending.pop(0)
        if outcome.card.due <= utc(reveal.reviewed_at) + self.learn_ahead:
            self.pending.append(Item(item.card, outcome.card, False))
        return rated

    def skip(self) -> None:
        if self.pending:
            self.skipped.append(self.pending.pop(0))

    def undo(self) -> Rated | None:
        """Take back the last rating of this session: the card is shown again, first."""
        if not self.history:
            return None
        last = self.history.pop()
        self.store.undo(last.review_id)
        # drop the re-queued copy the rating added (the last pending entry for that card, if any)
        for k in range(len(self.pending) - 1, -1, -1):
            if self.pending[k].id == last.item.id:
                del self.pending[k]
                break
        self.pending.insert(0, last.item)
        return last

    def summary(self) -> Summary:
        s = Summary(rated=len(self.history), skipped=len(self.skipped))
        for r in self.history:
            if r.correct is None:
                s.self_graded += 1
            elif r.correct:
                s.right += 1
            else:
                s.wrong += 1
            name = r.rating.name
            s.by_rating[name] = s.by_rating.get(name, 0) + 1
        return s
