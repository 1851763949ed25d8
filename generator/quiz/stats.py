"""``tnquiz stats``: what is due, how reviews went, per deck, with a total. Pure: ``now`` is passed in.

Statistics are kept per built deck: with a ``cards.json``, only cards of its root decks count (a
database shared by several decks never calls another deck's cards "removed"); the other decks in the
database are listed on their own.

Retention is *true retention*, as in Anki: of the reviews of cards that were in the FSRS Review state
(learned: not new, not in a learning step), the share not rated Again. It is shown once there are
:data:`MIN_RETENTION_REVIEWS` such reviews; before that, the share of all reviews not rated Again is
the figure to read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from generator.quiz.clock import day_end, day_start, iso
from generator.quiz.scheduler import State
from generator.quiz.session import DeckEntry, root_deck
from generator.quiz.store import Store

DAYS = 30
WEEK = 7
#: Fewer reviews of learned cards than this: retention is "n/a" in the text report (too few to mean
#: anything); ``--json`` still gives the ratio and the counts.
MIN_RETENTION_REVIEWS = 5


@dataclass
class _Tally:
    reviews: int = 0
    again: int = 0
    mature: int = 0  # reviews of cards in the Review state
    recalled: int = 0  # ... not rated Again

    def retention(self) -> float | None:
        return round(self.recalled / self.mature, 4) if self.mature else None

    def add(self, other: _Tally) -> None:
        self.reviews += other.reviews
        self.again += other.again
        self.mature += other.mature
        self.recalled += other.recalled


#: How many exercises ``tnquiz stats`` lists under "most often failed".
MOST_FAILED = 10
_COUNTS = ("cards", "seen", "new", "due_today", "due_7d", "reviews_30d")


def compute(store: Store, deck: Sequence[DeckEntry] | None, now: datetime, *,
            days: int = DAYS) -> dict[str, Any]:
    """Everything ``tnquiz stats`` shows, as a JSON-able dict. With ``deck`` (the cards of the built
    cards.json, see :func:`~generator.quiz.session.load_index`), only cards of its root decks count,
    and only those still in it with status ``ok`` count as due; without it, every card in the
    database."""
    states = store.due_dates()
    today = day_start(now)
    end_today = day_end(now)
    if deck is not None:
        ok = {c.id: c.deck for c in deck if c.status == "ok"}
        all_ids = {c.id for c in deck}
        roots: set[str] | None = {root_deck(c.deck) for c in deck}
    else:
        ok = {cid: deck_name for cid, (_, deck_name) in states.items()}
        all_ids = set(ok)
        roots = None

    root_of: dict[str, bool] = {}

    def ours(card_id: str, logged_deck: str) -> bool:
        if roots is None or card_id in all_ids:
            return True
        mine = root_of.get(logged_deck)
        if mine is None:
            mine = root_of[logged_deck] = root_deck(logged_deck) in roots
        return mine

    deck_of = {cid: deck_name for cid, (_, deck_name) in states.items()}
    deck_of.update(ok)

    per_deck: dict[str, dict[str, Any]] = defaultdict(lambda: {
        **dict.fromkeys(_COUNTS, 0), "_tally": _Tally()})
    for cid, name in ok.items():
        per_deck[name]["cards"] += 1
        per_deck[name]["seen" if cid in states else "new"] += 1

    due_today = overdue = 0
    week = [0] * WEEK
    for cid, (due, _) in states.items():
        if cid not in ok:
            continue
        row = per_deck[ok[cid]]
        if due < end_today:
            due_today += 1
            row["due_today"] += 1
            if due < now:
                overdue += 1
        else:
            k = (day_start(due.astimezone(now.tzinfo)) - today).days - 1
            if 0 <= k < WEEK:
                week[k] += 1
        if due < end_today + timedelta(days=WEEK):
            row["due_7d"] += 1

    since = today - timedelta(days=days - 1)
    per_day: dict[str, _Tally] = defaultdict(_Tally)
    total = _Tally()
    others: dict[str, dict[str, Any]] = defaultdict(lambda: {"cards_seen": 0, "reviews": 0,
                                                              "reviews_30d": 0})
    for card_id, rating, when, logged_deck, prev_state in store.review_facts(since):
        name = deck_of.get(card_id, logged_deck)
        if not ours(card_id, name):
            others[root_deck(name)]["reviews_30d"] += 1
            continue
        day = when.astimezone(now.tzinfo).date().isoformat()
        mature = prev_state == State.Review
        row = per_deck[name]
        row["reviews_30d"] += 1
        for t in (per_day[day], total, row["_tally"]):
            t.reviews += 1
            t.again += rating == 1
            t.mature += mature
            t.recalled += mature and rating > 1

    reviews_all = 0
    for card_id, logged_deck, n in store.review_counts():
        name = deck_of.get(card_id, logged_deck)
        if ours(card_id, name):
            reviews_all += n
        else:
            others[root_deck(name)]["reviews"] += n
    for cid, (_, name) in states.items():
        if not ours(cid, name):
            others[root_deck(name)]["cards_seen"] += 1

    days_out = []
    for k in range(days):
        day = (since + timedelta(days=k)).date().isoformat()
        t = per_day.get(day, _Tally())
        days_out.append({"date": day, "reviews": t.reviews, "again": t.again, "mature": t.mature,
                         "retention": t.retention()})

    decks_out = []
    sums: dict[str, Any] = dict.fromkeys(_COUNTS, 0)
    sum_tally = _Tally()
    for name in sorted(per_deck):
        row = per_deck[name]
        tally = row.pop("_tally")
        sum_tally.add(tally)
        for key in _COUNTS:
            sums[key] += row[key]
        decks_out.append({"deck": name, **row, "mature_30d": tally.mature,
                          "retention_30d": tally.retention(),
                          "in_deck": any(v == name for v in ok.values())})

    return {
        "now": now.isoformat(),
        "db": str(store.path),
        "root_decks": sorted(roots) if roots is not None else None,
        "cards": {
            "quizzable": len(ok),
            "seen": sum(1 for cid in ok if cid in states),
            "new": sum(1 for cid in ok if cid not in states),
            "hidden": sum(1 for cid, (_, name) in states.items() if cid not in all_ids and ours(cid, name)),
        },
        "due": {
            "today": due_today,
            "overdue": overdue,
            "next_7_days": [
                {"date": (today + timedelta(days=k + 1)).date().isoformat(), "due": n}
                for k, n in enumerate(week)],
            "week_total": due_today + sum(week),
        },
        "reviews": {"total": reviews_all, "last_30_days": total.reviews,
                    "again_30d": total.again, "mature_30d": total.mature,
                    "retention_30d": total.retention(),
                    "retention_min_reviews": MIN_RETENTION_REVIEWS},
        "per_day": days_out,
        "decks": decks_out,
        "total": {**sums, "mature_30d": sum_tally.mature, "retention_30d": sum_tally.retention()},
        "other_decks": [{"deck": r, **others[r]} for r in sorted(others)],
        "since": iso(since),
        "exercises_most_failed": [
            {"id": cid, "deck": d, "failed": wrong, "attempts": n}
            for cid, d, wrong, n in store.failed_attempts() if wrong and ours(cid, d)][:MOST_FAILED],
    }


def _pct(ratio: float | None, mature: int) -> str:
    """A retention cell: ``92%``, or ``n/a`` below :data:`MIN_RETENTION_REVIEWS` reviews."""
    if ratio is None or mature < MIN_RETENTION_REVIEWS:
        return "n/a"
    return f"{ratio * 100:.0f}%"


def _retention_words(rev: dict[str, Any]) -> str:
    n = rev["last_30_days"]
    if not n:
        return "no reviews yet"
    passed = n - rev["again_30d"]
    words = f"{passed} of {n} not rated Again ({passed / n * 100:.0f}%); "
    if rev["mature_30d"] < MIN_RETENTION_REVIEWS:
        return words + (f"retention n/a: fewer than {MIN_RETENTION_REVIEWS} reviews of learned cards "
                        f"({rev['mature_30d']} so far; reviews in learning steps do not count)")
    return words + f"retention {_pct(rev['retention_30d'], rev['mature_30d'])} " \
                   f"(of {rev['mature_30d']} reviews of learned cards)"


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        out.append("  " + "  ".join(cells).rstrip())
    return out


def render(stats: dict[str, Any]) -> str:
    """The plain-text report (no colours: it is meant to be read and piped)."""
    c, due, rev = stats["cards"], stats["due"], stats["reviews"]
    lines = [
        f"Review database: {stats['db']}",
        f"Cards: {c['quizzable']} in the deck, {c['seen']} seen, {c['new']} new"
        + (f" ({c['hidden']} with history no longer in the deck, hidden)" if c["hidden"] else ""),
        f"Due today: {due['today']}" + (f" ({due['overdue']} overdue)" if due["overdue"] else "")
        + f"; this week (today + 7 days): {due['week_total']}",
        f"Reviews: {rev['total']} in all, {rev['last_30_days']} in the last 30 days: "
        + _retention_words(rev),
        "",
        "Due in the next 7 days",
    ]
    lines += _table([["date", "due"]] + [[d["date"], str(d["due"])] for d in due["next_7_days"]], {1})
    lines += ["", "Reviews per day, last 30 days (days with reviews)"]
    active = [d for d in stats["per_day"] if d["reviews"]]
    if active:
        lines += _table([["date", "reviews", "again", "retention"]] + [
            [d["date"], str(d["reviews"]), str(d["again"]), _pct(d["retention"], d["mature"])]
            for d in active], {1, 2, 3})
    else:
        lines.append("  (no reviews yet: run `tnquiz quiz`)")
    lines += ["", "Per deck"]
    if stats["decks"]:
        def cells(name: str, d: dict[str, Any]) -> list[str]:
            return [name, *(str(d[k]) for k in _COUNTS), _pct(d["retention_30d"], d["mature_30d"])]

        rows = [["deck", "cards", "seen", "new", "due today", "due 7d", "reviews 30d", "retention 30d"]]
        rows += [cells(d["deck"] + ("" if d["in_deck"] else " (removed)"), d) for d in stats["decks"]]
        rows.append(cells("Total", stats["total"]))
        lines += _table(rows, {1, 2, 3, 4, 5, 6, 7})
    else:
        lines.append("  (no decks)")
    if stats["other_decks"]:
        lines += ["", "Other decks in this review database (not in this deck; `tnquiz stats THEIR_DECK/`)"]
        lines += _table([["deck", "cards seen", "reviews", "reviews 30d"]] + [
            [o["deck"], str(o["cards_seen"]), str(o["reviews"]), str(o["reviews_30d"])]
            for o in stats["other_decks"]], {1, 2, 3})
    if stats["exercises_most_failed"]:
        lines += ["", "Exercises most often failed"]
        lines += _table([["exercise", "deck", "failed", "attempts"]] + [
            [e["id"], e["deck"], str(e["failed"]), str(e["attempts"])]
            for e in stats["exercises_most_failed"]], {2, 3})
    lines.append("")
    lines.append(f"Retention: share of reviews of learned cards (FSRS review state) not rated Again; "
                 f"n/a below {MIN_RETENTION_REVIEWS} such reviews.")
    return "\n".join(lines)
