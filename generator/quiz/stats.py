"""``tnquiz stats``: what is due, how reviews went, per deck. Pure: ``now`` is passed in.

Retention is *true retention*, as in Anki: of the reviews of cards that were in the FSRS Review state
(not new, not in a learning step), the share not rated Again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from generator.quiz.clock import day_end, day_start, iso
from generator.quiz.scheduler import State
from generator.quiz.session import DeckEntry
from generator.quiz.store import Store

DAYS = 30
WEEK = 7


@dataclass
class _Tally:
    reviews: int = 0
    again: int = 0
    mature: int = 0  # reviews of cards in the Review state
    recalled: int = 0  # ... not rated Again

    def retention(self) -> float | None:
        return round(self.recalled / self.mature, 4) if self.mature else None


def compute(store: Store, deck: Sequence[DeckEntry] | None, now: datetime, *,
            days: int = DAYS) -> dict[str, Any]:
    """Everything ``tnquiz stats`` shows, as a JSON-able dict. With ``deck`` (the cards of the built
    cards.json, see :func:`~generator.quiz.session.load_index`), only cards still in the deck with
    status ``ok`` count as due; without it, every card in the database."""
    states = store.due_dates()
    today = day_start(now)
    end_today = day_end(now)
    if deck is not None:
        ok = {c.id: c.deck for c in deck if c.status == "ok"}
        all_ids = {c.id for c in deck}
    else:
        ok = {cid: deck_name for cid, (_, deck_name) in states.items()}
        all_ids = set(ok)
    deck_of = {cid: deck_name for cid, (_, deck_name) in states.items()}
    deck_of.update(ok)

    per_deck: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "cards": 0, "seen": 0, "new": 0, "due_today": 0, "due_7d": 0,
        "reviews_30d": 0, "_tally": _Tally()})
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
    for card_id, rating, when, logged_deck, prev_state in store.review_facts(since):
        day = when.astimezone(now.tzinfo).date().isoformat()
        mature = prev_state == State.Review
        row = per_deck[deck_of.get(card_id, logged_deck)]
        row["reviews_30d"] += 1
        for t in (per_day[day], total, row["_tally"]):
            t.reviews += 1
            t.again += rating == 1
            t.mature += mature
            t.recalled += mature and rating > 1

    days_out = []
    for k in range(days):
        day = (since + timedelta(days=k)).date().isoformat()
        t = per_day.get(day, _Tally())
        days_out.append({"date": day, "reviews": t.reviews, "again": t.again,
                         "retention": t.retention()})

    decks_out = []
    for name in sorted(per_deck):
        row = per_deck[name]
        tally = row.pop("_tally")
        decks_out.append({"deck": name, **row, "retention_30d": tally.retention(),
                          "in_deck": any(v == name for v in ok.values())})

    return {
        "now": now.isoformat(),
        "db": str(store.path),
        "cards": {
            "quizzable": len(ok),
            "seen": sum(1 for cid in ok if cid in states),
            "new": sum(1 for cid in ok if cid not in states),
            "hidden": sum(1 for cid in states if cid not in all_ids),
        },
        "due": {
            "today": due_today,
            "overdue": overdue,
            "next_7_days": [
                {"date": (today + timedelta(days=k + 1)).date().isoformat(), "due": n}
                for k, n in enumerate(week)],
            "week_total": due_today + sum(week),
        },
        "reviews": {"total": store.review_count(), "last_30_days": total.reviews,
                    "again_30d": total.again, "retention_30d": total.retention()},
        "per_day": days_out,
        "decks": decks_out,
        "since": iso(since),
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.0f}%"


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
        f"Reviews: {rev['total']} in all, {rev['last_30_days']} in the last 30 days, "
        f"retention {_pct(rev['retention_30d'])}",
        "",
        "Due in the next 7 days",
    ]
    lines += _table([["date", "due"]] + [[d["date"], str(d["due"])] for d in due["next_7_days"]], {1})
    lines += ["", "Reviews per day, last 30 days (days with reviews)"]
    active = [d for d in stats["per_day"] if d["reviews"]]
    if active:
        lines += _table([["date", "reviews", "again", "retention"]] + [
            [d["date"], str(d["reviews"]), str(d["again"]), _pct(d["retention"])] for d in active],
            {1, 2, 3})
    else:
        lines.append("  (no reviews yet: run `tnquiz quiz`)")
    lines += ["", "Per deck"]
    if stats["decks"]:
        lines += _table([["deck", "cards", "seen", "new", "due today", "due 7d", "reviews 30d",
                          "retention 30d"]] + [
            [d["deck"] + ("" if d["in_deck"] else " (removed)"), str(d["cards"]), str(d["seen"]),
             str(d["new"]), str(d["due_today"]), str(d["due_7d"]), str(d["reviews_30d"]),
             _pct(d["retention_30d"])] for d in stats["decks"]], {1, 2, 3, 4, 5, 6, 7})
    else:
        lines.append("  (no decks)")
    lines.append("")
    lines.append("Retention: share of reviews of cards in the review state not rated Again.")
    return "\n".join(lines)
