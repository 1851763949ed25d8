"""A thin, pure wrapper around FSRS (the ``fsrs`` package, v6).

Nothing here reads the clock: every function takes ``now``. Fuzzing is a parameter of
:func:`make_scheduler` (off in tests, so intervals are exact).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fsrs import Card, Rating, ReviewLog, Scheduler, State

from generator.quiz.clock import utc

RATINGS: tuple[Rating, ...] = (Rating.Again, Rating.Hard, Rating.Good, Rating.Easy)
RATING_NAMES = {Rating.Again: "Again", Rating.Hard: "Hard", Rating.Good: "Good", Rating.Easy: "Easy"}

__all__ = [
    "RATINGS",
    "RATING_NAMES",
    "Card",
    "Outcome",
    "Rating",
    "ReviewLog",
    "Scheduler",
    "State",
    "card_from_json",
    "card_to_json",
    "format_interval",
    "fsrs_card_id",
    "make_scheduler",
    "new_card",
    "outcomes",
]


def make_scheduler(*, fuzz: bool = True, desired_retention: float = 0.9) -> Scheduler:
    return Scheduler(desired_retention=desired_retention, enable_fuzzing=fuzz)


def fsrs_card_id(card_id: str) -> int:
    """FSRS wants an integer card id: a stable 63-bit hash of the tnquiz id."""
    return int.from_bytes(hashlib.sha256(card_id.encode()).digest()[:8], "big") >> 1


def new_card(card_id: str, now: datetime) -> Card:
    """A card never reviewed: Learning, step 0, due ``now`` (passing the id avoids fsrs' clock)."""
    return Card(card_id=fsrs_card_id(card_id), due=utc(now))


def card_to_json(card: Card) -> str:
    return json.dumps(card.to_dict(), sort_keys=True)


def card_from_json(text: str) -> Card:
    d: Any = json.loads(text)
    return Card.from_dict(d)


@dataclass(frozen=True)
class Outcome:
    """What one rating would do: the card after it, its log entry and the interval until due."""

    rating: Rating
    card: Card
    log: ReviewLog
    interval: timedelta

    @property
    def name(self) -> str:
        return RATING_NAMES[self.rating]


def outcomes(scheduler: Scheduler, card: Card, now: datetime,
             duration_ms: int | None = None) -> dict[Rating, Outcome]:
    """Every rating's outcome for ``card`` reviewed at ``now`` (``review_card`` works on a copy).

    The quiz shows these intervals and then stores the very outcome the learner picks, so what is
    shown is what is saved, even with fuzzing on.
    """
    when = utc(now)
    out: dict[Rating, Outcome] = {}
    for rating in RATINGS:
        after, log = scheduler.review_card(card, rating, when, duration_ms)
        out[rating] = Outcome(rating, after, log, after.due - when)
    return out


def format_interval(delta: timedelta) -> str:
    """``10m``, ``5h``, ``3d``, ``2.5mo``, ``1.2y``: short, like Anki's buttons."""
    secs = max(0.0, delta.total_seconds())
    if secs < 60:
        return f"{round(secs)}s"
    minutes = secs / 60
    if minutes < 60:
        return f"{round(minutes)}m"
    hours = minutes / 60
    if hours < 24:
        return f"{round(hours)}h"
    days = hours / 24
    if days < 30:
        return f"{round(days)}d"
    if days < 365:
        months = days / 30.4375
        return f"{months:.1f}".rstrip("0").rstrip(".") + "mo"
    years = days / 365.25
    return f"{years:.1f}".rstrip("0").rstrip(".") + "y"
