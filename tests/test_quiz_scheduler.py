"""The FSRS wrapper: fixed clock, fuzzing off, exact intervals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from generator.quiz import clock
from generator.quiz.scheduler import (
    Rating,
    State,
    card_from_json,
    card_to_json,
    format_interval,
    fsrs_card_id,
    make_scheduler,
    new_card,
    outcomes,
)

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)


def test_new_card_outcomes_are_exact_without_fuzzing() -> None:
    s = make_scheduler(fuzz=False)
    out = outcomes(s, new_card("squeeze-dim-1", NOW), NOW)
    assert {r: format_interval(o.interval) for r, o in out.items()} == {
        Rating.Again: "1m", Rating.Hard: "6m", Rating.Good: "10m", Rating.Easy: "8d"}
    assert out[Rating.Easy].card.state == State.Review
    assert out[Rating.Good].card.state == State.Learning
    assert out[Rating.Good].log.review_datetime == NOW
    # deterministic: the same inputs give the same intervals
    again = outcomes(s, new_card("squeeze-dim-1", NOW), NOW)
    assert [o.interval for o in again.values()] == [o.interval for o in out.values()]


def test_outcomes_do_not_touch_the_card() -> None:
    s = make_scheduler(fuzz=False)
    card = new_card("x", NOW)
    before = card.to_dict()
    outcomes(s, card, NOW)
    assert card.to_dict() == before


def test_graduating_and_growing_intervals() -> None:
    s = make_scheduler(fuzz=False)
    card = new_card("x", NOW)
    card = outcomes(s, card, NOW)[Rating.Good].card  # learning step 2 (10m)
    t = card.due
    out = outcomes(s, card, t)
    assert out[Rating.Good].card.state == State.Review
    assert out[Rating.Good].interval >= timedelta(days=1)
    assert out[Rating.Again].interval < out[Rating.Hard].interval <= out[Rating.Good].interval
    assert out[Rating.Good].interval < out[Rating.Easy].interval
    card = out[Rating.Good].card
    later = outcomes(s, card, card.due)[Rating.Good]
    assert later.interval > out[Rating.Good].interval


def test_review_time_must_be_aware_and_is_converted_to_utc() -> None:
    s = make_scheduler(fuzz=False)
    paris = timezone(timedelta(hours=1))
    out = outcomes(s, new_card("x", NOW), NOW.astimezone(paris))
    assert out[Rating.Good].card.last_review == NOW
    assert out[Rating.Good].card.last_review.tzinfo == timezone.utc  # type: ignore[union-attr]


def test_card_json_round_trip_and_stable_ids() -> None:
    s = make_scheduler(fuzz=False)
    card = outcomes(s, new_card("x", NOW), NOW)[Rating.Hard].card
    back = card_from_json(card_to_json(card))
    assert back.to_dict() == card.to_dict()
    assert fsrs_card_id("x") == fsrs_card_id("x") != fsrs_card_id("y")
    assert 0 < fsrs_card_id("x") < 2**63


@pytest.mark.parametrize(("delta", "text"), [
    (timedelta(seconds=30), "30s"), (timedelta(minutes=10), "10m"), (timedelta(hours=5), "5h"),
    (timedelta(days=2), "2d"), (timedelta(days=75), "2.5mo"), (timedelta(days=365), "1y"),
    (timedelta(days=800), "2.2y"), (timedelta(seconds=-5), "0s")])
def test_format_interval(delta: timedelta, text: str) -> None:
    assert format_interval(delta) == text


def test_clock_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TNQUIZ_NOW", "2025-03-01T10:00:00+01:00")
    monkeypatch.delenv("TNQUIZ_FUZZ", raising=False)
    assert clock.now() == NOW
    assert clock.now().utcoffset() == timedelta(hours=1)
    assert not clock.fuzz_enabled()  # a fixed clock means deterministic intervals
    monkeypatch.setenv("TNQUIZ_FUZZ", "1")
    assert clock.fuzz_enabled()
    monkeypatch.setenv("TNQUIZ_NOW", "2025-03-01T09:00:00Z")
    assert clock.now() == NOW
    monkeypatch.setenv("TNQUIZ_NOW", "2025-03-01 09:00")  # naive: UTC
    assert clock.now() == NOW
    monkeypatch.delenv("TNQUIZ_NOW")
    monkeypatch.delenv("TNQUIZ_FUZZ")
    assert clock.fuzz_enabled()
    assert clock.now().tzinfo is not None


def test_iso_sorts_as_text() -> None:
    a = NOW
    b = NOW + timedelta(microseconds=1)
    assert clock.iso(a) < clock.iso(b)
    assert len(clock.iso(a)) == len(clock.iso(b))
    assert clock.from_iso(clock.iso(b)) == b
    assert clock.day_start(datetime(2025, 3, 1, 23, 59, tzinfo=timezone.utc)) == datetime(
        2025, 3, 1, tzinfo=timezone.utc)
