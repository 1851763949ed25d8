"""The ``tnquiz quiz`` and ``tnquiz stats`` click commands.

This module imports only click at import time (the main ``tnquiz`` group imports it on every start);
rich, fsrs and sqlite are imported when a command runs. Nothing here imports torch.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from generator.model import BuiltCard, Deck, Graded
    from generator.quiz.decks import Chosen
    from generator.quiz.session import Queue
    from generator.quiz.store import Store


def _now() -> datetime:
    from generator.quiz import clock

    try:
        return clock.now()
    except ValueError:
        raise click.ClickException(
            f"{clock.ENV_NOW}={os.environ.get(clock.ENV_NOW)!r} is not an ISO timestamp "
            "(e.g. 2025-01-31T09:00:00+01:00)") from None


def _load_deck(path: Path) -> Deck:
    from generator.quiz.session import DeckError, load_deck

    try:
        return load_deck(path)
    except DeckError as e:
        raise click.ClickException(str(e)) from None


def _choose_deck(arg: Path | None, cards_opt: Path | None, command: str) -> Chosen:
    """The deck named as an argument or with --cards, else the last one built or used, else
    ./build/cards.json; remembered as the last deck used."""
    from generator.quiz.decks import DeckChoiceError, last_deck, remember_deck, resolve

    if arg is not None and cards_opt is not None and arg != cards_opt:
        raise click.ClickException(
            f"two decks given ({arg} and --cards {cards_opt}): name the deck once, e.g. "
            f"`tnquiz {command} {arg}`")
    last = last_deck()
    try:
        chosen = resolve(arg if arg is not None else cards_opt, command, last)
    except DeckChoiceError as e:
        raise click.ClickException(str(e)) from None
    if chosen.path.is_file() and (last is None or last.cards != chosen.path.resolve()):
        remember_deck(chosen.path, by=command)  # a deck already remembered keeps what built it
    return chosen


def _db_path(db: Path | None, cards: Path) -> Path:
    from generator.quiz.decks import default_db_path

    path = (db or default_db_path()).expanduser()
    build_dir = cards.resolve().parent
    is_build_output = build_dir.name == "build" or any(
        (build_dir / f).exists() for f in ("tnquiz.apkg", "quiz.html"))
    if is_build_output and build_dir != Path.cwd().resolve() and path.resolve().is_relative_to(build_dir):
        raise click.ClickException(
            f"the review database {path} is inside {build_dir}, the build output that `tnquiz build` "
            "rewrites: put it elsewhere (--db or TNQUIZ_DB)")
    return path


def _open_store(path: Path | str) -> Store:
    from generator.quiz.store import Store, StoreError

    try:
        return Store(path)
    except StoreError as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"cannot open the review database {path}: {e}") from None


DECK_ARGUMENT = click.argument("deck_path", metavar="[DECK]", required=False,
                               type=click.Path(path_type=Path))
CARDS_OPTION = click.option(
    "--cards", "cards_path", type=click.Path(path_type=Path), default=None,
    help="The built deck, like the DECK argument (a folder written by `tnquiz build`, or its "
         "cards.json).")
DB_OPTION = click.option(
    "--db", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help="Review database (SQLite). Default: $TNQUIZ_DB, else reviews.sqlite3 in the user data "
         "dir (see `tnquiz stats`).")


@click.command()
@DECK_ARGUMENT
@click.option("--deck", default=None, metavar="NAME",
              help="Only this deck and its sub-decks (e.g. PyTorch::Tensors; case-insensitive).")
@click.option("--tag", "tags", multiple=True, metavar="TAG",
              help="Only cards with this tag (repeat: cards with any of them).")
@click.option("--new", "new_limit", type=click.IntRange(min=0), default=None, metavar="N",
              help="New cards per day and deck (counted from today's reviews). [default: 20]")
@click.option("--limit", type=click.IntRange(min=1), default=None, metavar="N",
              help="At most N cards in this session (due cards first).")
@CARDS_OPTION
@DB_OPTION
@click.option("--json", "as_json", is_flag=True,
              help="Print the queue as JSON and exit (no prompts; for scripts).")
def quiz(deck_path: Path | None, deck: str | None, tags: tuple[str, ...], new_limit: int | None,
         limit: int | None, cards_path: Path | None, db: Path | None, as_json: bool) -> None:
    """Review cards in the terminal, scheduled by FSRS spaced repetition.

    DECK is a built deck: a folder written by `tnquiz build` (holding cards.json) or that cards.json.
    Without it, the last deck built or used is taken, else ./build/cards.json; the first line says
    which. Nothing is run. Asks the cards that are due, then new cards up to the daily limit (per
    deck). Type your answer (a shape as 2x3 or (2, 3), a dtype, an exception
    name, a number, an option number, the missing code); the verified answer, its explanation and
    what each rating would schedule are shown. Enter accepts the proposed rating, 1-4 picks another
    (Again, Hard, Good, Easy); s skips, u undoes the card just rated (at the rating prompt: takes
    back the answer on screen), m shows a long error message in full, q quits. Every rating is saved at
    once.

    \b
    Examples:
      tnquiz quiz
      tnquiz quiz mydeck/                   # what `tnquiz build mycards/ --out mydeck/` wrote
      tnquiz quiz --deck PyTorch::Tensors --new 5 --limit 20
      tnquiz quiz --tag squeeze --json      # the queue, for scripts
    """
    from generator.quiz import clock
    from generator.quiz.session import (
        DEFAULT_NEW_PER_DAY,
        build_queue,
        select_cards,
    )

    now = _now()
    chosen = _choose_deck(deck_path, cards_path, "quiz")
    cards_path = chosen.path
    built = _load_deck(cards_path)
    cards = select_cards(built.cards, deck, tags)
    if not cards:
        ok = [c for c in built.cards if c.status == "ok"]
        if not ok:
            raise click.ClickException(
                f"no card in {cards_path} has status ok: see `tnquiz check`, then `tnquiz build`")
        decks = sorted({c.card.deck for c in ok})
        what = " ".join(([f"--deck {deck}"] if deck else []) + [f"--tag {t}" for t in tags])
        raise click.ClickException(
            f"no card matches {what} (decks: {', '.join(decks)})")
    from generator.quiz.store import StoreError

    db_path = _db_path(db, cards_path)
    store = _open_store(db_path)
    try:
        states = store.states()
        new_today = store.new_cards_since(clock.day_start(now))
        queue = build_queue(
            cards, states, now, new_limit=DEFAULT_NEW_PER_DAY if new_limit is None else new_limit,
            new_today=new_today, limit=limit, all_cards=[(c.id, c.card.deck) for c in built.cards])
        if as_json:
            out = {"now": now.isoformat(), "cards_file": str(cards_path), "cards_file_why": chosen.why,
                   "db": str(db_path), **queue.to_dict()}
            click.echo(json.dumps(out, indent=1))
            return
        if not sys.stdin.isatty():
            raise click.ClickException(
                "stdin is not a terminal: run `tnquiz quiz` in a terminal, or add --json to print "
                "the queue")
        store.check_writable()  # before the first question: never lose a rating to a read-only file
        _interactive(queue, store, now, [c.id for c in cards], chosen)
    except StoreError as e:
        raise click.ClickException(str(e)) from None
    finally:
        store.close()


def _interactive(queue: Queue, store: Store, now: datetime, ids: list[str], chosen: Chosen) -> None:
    from rich.console import Console
    from rich.text import Text

    from generator.quiz import clock, ui
    from generator.quiz.scheduler import format_interval, make_scheduler
    from generator.quiz.session import Session

    console = Console(highlight=False)
    session_id = f"{clock.iso(now)}-{os.getpid()}"
    session = Session(queue, store, make_scheduler(fuzz=clock.fuzz_enabled()), session_id=session_id)
    counts = session.counts(now)
    due = f"  {counts.due_now} due"
    if counts.due_later and counts.next_later is not None:
        due += f" now, {counts.due_later} in {format_interval(counts.next_later)}"
    by_deck = queue.new_today_by_deck
    if len(by_deck) == 1:
        limits = f" (new today {queue.new_today}/{queue.new_limit})"
    else:
        limits = " (new today: " + ", ".join(f"{d} {n}/{queue.new_limit}" for d, n in by_deck.items()) + ")"
    head = Text.assemble(("tnquiz quiz", "bold"), f"{due}, {queue.new} new", (limits, "dim"))
    console.print(head)
    console.print(Text(chosen.describe(), style="dim"))
    if queue.hidden:
        console.print(Text(f"{queue.hidden} reviewed card(s) are no longer in the deck: kept, not shown.",
                           style="dim"))
    if not queue.items:
        console.print(Text("Nothing due now.", style="bold green") + _next_due(store, ids, now))
        return
    grader = _BackgroundGrader() if any(i.card.card.kind == "exercise" for i in queue.items) else None
    try:
        ui.run(session, console, clock=clock.now, grade=grader.grade if grader is not None else None)
    finally:
        if grader is not None:
            grader.close()
    console.print(_next_due(store, ids, clock.now()).strip())


class _BackgroundGrader:
    """The exercise grader (``generator.execute.runner.Grader``), imported and started on a thread:
    the first question is on screen at once, and torch's import in the worker overlaps the reading.

    The thread that starts the worker stays alive until ``close``: the worker (and bubblewrap around
    it) die with the *thread* that started them (``PR_SET_PDEATHSIG``), so a thread that ended right
    after the start would take the worker with it.
    """

    def __init__(self) -> None:
        import threading

        self._grader: Any = None
        self._failed = ""
        self._ready = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._start, daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            from generator.execute.runner import Grader

            grader = Grader()
            grader.start()
            self._grader = grader
        except Exception as e:  # reported with the first attempt; the quiz goes on
            self._failed = f"{type(e).__name__}: {e}"
        finally:
            self._ready.set()
        self._done.wait()

    def grade(self, card: BuiltCard, attempt: str) -> Graded:
        from generator.model import Graded

        self._ready.wait()
        if self._grader is None:
            return Graded(None, f"could not start the worker ({self._failed})")
        result: Graded = self._grader.grade(card, attempt)
        return result

    def close(self) -> None:
        self._ready.wait()
        if self._grader is not None:
            self._grader.close()
        self._done.set()
        self._thread.join()


def _next_due(store: Store, ids: list[str], now: datetime) -> str:
    from generator.quiz.clock import utc
    from generator.quiz.scheduler import format_interval

    states = store.states(ids)
    later = [s.card.due for s in states.values() if s.card.due > utc(now)]
    if not later:
        return ""
    nxt = min(later)
    return f" Next card due in {format_interval(nxt - utc(now))} ({nxt.astimezone(now.tzinfo):%Y-%m-%d %H:%M})."


@click.command()
@DECK_ARGUMENT
@DB_OPTION
@CARDS_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON (for scripts).")
def stats(deck_path: Path | None, db: Path | None, cards_path: Path | None, as_json: bool) -> None:
    """Show what is due and how reviews went: due today and in the next 7 days, reviews and
    retention per day for the last 30 days, and per deck.

    DECK is a built deck (folder or cards.json) as for `tnquiz quiz`; without it, the last deck
    built or used, else ./build/cards.json. Cards removed from the deck keep their history but are
    not counted as due. Without any built deck, every card in the review database counts.

    \b
    Examples:
      tnquiz stats
      tnquiz stats mydeck/
      tnquiz stats --json | python -m json.tool
      tnquiz stats --db ~/other-reviews.sqlite3
    """
    from generator.quiz import stats as st
    from generator.quiz.decks import DEFAULT_CARDS, Chosen
    from generator.quiz.session import DeckError, load_index
    from generator.quiz.terminal import visible

    now = _now()
    deck = None
    try:
        chosen = _choose_deck(deck_path, cards_path, "stats")
    except click.ClickException:
        if deck_path is not None or cards_path is not None:
            raise
        chosen = Chosen(DEFAULT_CARDS, "missing")  # nothing built or remembered: count the database
    cards_path = chosen.path
    if chosen.why != "missing":
        try:
            deck = load_index(cards_path)
        except DeckError as e:
            raise click.ClickException(str(e)) from None
    db_path = _db_path(db, cards_path)
    from generator.quiz.store import StoreError

    store = _open_store(db_path if db_path.exists() else ":memory:")
    try:
        data = st.compute(store, deck, now)
    except StoreError as e:
        raise click.ClickException(str(e)) from None
    finally:
        store.close()
    data["db"] = str(db_path)
    data["cards_file"] = str(cards_path) if deck is not None else None
    data["cards_file_why"] = chosen.why if deck is not None else None
    if as_json:
        click.echo(json.dumps(data, indent=1))
        return
    text = st.render(data)
    if deck is None:
        text += f"\n(no built deck at {cards_path}: every card in the database is counted)"
    else:
        text = chosen.describe() + "\n" + text
    if not db_path.exists():
        text += "\n(no review database yet: start with `tnquiz quiz`)"
    click.echo(visible(text))  # deck names come from files anyone could have written
