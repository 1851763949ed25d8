"""Review state and review log in SQLite (stdlib ``sqlite3``).

One row per card id in ``card_state`` (the FSRS ``Card.to_dict()`` as JSON, plus the ``answer_hash`` of
the answer the learner last saw), and every rating in ``review_log`` (card id, rating, review time,
duration, the FSRS state before and after: enough for the FSRS optimizer). Every rating is its own
``BEGIN IMMEDIATE`` transaction, committed at once, in WAL mode with a busy timeout: a killed process
loses nothing it had rated, and several processes may share one database.

The schema version is ``PRAGMA user_version``; :data:`MIGRATIONS` upgrades older files in place.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from generator.quiz.clock import from_iso, iso
from generator.quiz.scheduler import Card, ReviewLog, card_from_json, card_to_json

BUSY_TIMEOUT_MS = 10_000


class StoreError(Exception):
    """A database the quiz cannot use (newer schema, not a database, ...): one line for the user."""


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated statements inside the current transaction (``executescript`` would commit)."""
    code = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
    for stmt in code.split(";"):
        if stmt.strip():
            db.execute(stmt)


def _v1(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        CREATE TABLE card_state (
            card_id      TEXT PRIMARY KEY,
            fsrs         TEXT NOT NULL,     -- fsrs Card.to_dict() as JSON
            due          TEXT NOT NULL,     -- fixed-width UTC ISO (sorts as text)
            last_review  TEXT,
            deck         TEXT NOT NULL DEFAULT '',
            answer_hash  TEXT,              -- answer_hash of the answer shown at the last review
            reps         INTEGER NOT NULL DEFAULT 0,
            lapses       INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX card_state_due ON card_state(due);
        CREATE TABLE review_log (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            card_id       TEXT NOT NULL,
            fsrs_card_id  INTEGER NOT NULL,
            rating        INTEGER NOT NULL,  -- 1 Again, 2 Hard, 3 Good, 4 Easy
            review_time   TEXT NOT NULL,     -- fixed-width UTC ISO
            duration_ms   INTEGER,           -- from showing the card to showing the answer
            state_before  TEXT,              -- fsrs Card JSON before the review; NULL: a new card
            prev_state    INTEGER,           -- its fsrs State (1 learning, 2 review, 3 relearning); NULL: new
            state_after   TEXT NOT NULL,
            answer_hash   TEXT,
            deck          TEXT NOT NULL DEFAULT '',
            correct       INTEGER,           -- typed answer graded right (1) / wrong (0); NULL: self-graded
            session       TEXT
        );
        CREATE INDEX review_log_card ON review_log(card_id, id);
        CREATE INDEX review_log_time ON review_log(review_time);
        """
    )


#: ``MIGRATIONS[i]`` takes a database from ``user_version`` i to i + 1.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1]
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class StoredState:
    card_id: str
    card: Card
    deck: str
    answer_hash: str | None
    reps: int
    lapses: int

    @property
    def due(self) -> datetime:
        return self.card.due


@dataclass(frozen=True)
class ReviewRow:
    id: int
    card_id: str
    rating: int
    review_time: datetime
    duration_ms: int | None
    state_before: Card | None
    state_after: Card
    answer_hash: str | None
    deck: str
    correct: bool | None
    session: str | None


class Store:
    """One open database. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the review database {self.path}: {e}") from e
        try:
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = FULL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except StoreError:
            self.db.close()
            raise
        except sqlite3.DatabaseError as e:
            self.db.close()
            raise StoreError(f"cannot use the review database {self.path}: {e}") from e

    # -- plumbing ---------------------------------------------------------------------------------

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: takes the write lock up front (waits up to the busy
        timeout for another process), commits on success, rolls back on any error."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the review database {self.path} has schema version {version}, newer than this "
                    f"tnquiz knows ({SCHEMA_VERSION}): upgrade tnquiz")
            for step in range(version, SCHEMA_VERSION):
                MIGRATIONS[step](db)
                db.execute(f"PRAGMA user_version = {step + 1}")

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def integrity_check(self) -> str:
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])

    # -- reading ----------------------------------------------------------------------------------

    def states(self, card_ids: Iterable[str] | None = None) -> dict[str, StoredState]:
        """The stored FSRS state of every card (or of ``card_ids``), by card id."""
        rows = self.db.execute(
            "SELECT card_id, fsrs, deck, answer_hash, reps, lapses FROM card_state").fetchall()
        wanted = set(card_ids) if card_ids is not None else None
        out: dict[str, StoredState] = {}
        for cid, fsrs_json, deck, ahash, reps, lapses in rows:
            if wanted is not None and cid not in wanted:
                continue
            out[cid] = StoredState(cid, card_from_json(fsrs_json), deck, ahash, reps, lapses)
        return out

    def new_cards_since(self, since: datetime) -> dict[str, int]:
        """How many cards were seen for the first time at or after ``since``, by the deck logged with
        that first review (the daily new-card limit)."""
        out: dict[str, int] = {}
        for deck, n in self.db.execute(
                "SELECT deck, COUNT(DISTINCT card_id) FROM review_log "
                "WHERE state_before IS NULL AND review_time >= ? GROUP BY deck", (iso(since),)):
            out[deck] = out.get(deck, 0) + int(n)
        return out

    def reviews(self, since: datetime | None = None, card_id: str | None = None) -> list[ReviewRow]:
        sql = ("SELECT id, card_id, rating, review_time, duration_ms, state_before, state_after, "
               "answer_hash, deck, correct, session FROM review_log")
        where: list[str] = []
        args: list[object] = []
        if since is not None:
            where.append("review_time >= ?")
            args.append(iso(since))
        if card_id is not None:
            where.append("card_id = ?")
            args.append(card_id)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        return [
            ReviewRow(
                id=r[0], card_id=r[1], rating=r[2], review_time=from_iso(r[3]), duration_ms=r[4],
                state_before=card_from_json(r[5]) if r[5] else None,
                state_after=card_from_json(r[6]), answer_hash=r[7], deck=r[8],
                correct=None if r[9] is None else bool(r[9]), session=r[10])
            for r in self.db.execute(sql, args)
        ]

    def review_facts(self, since: datetime) -> list[tuple[str, int, datetime, str, int | None]]:
        """(card id, rating, review time, deck, FSRS state before or None) of every review since
        ``since``: what the statistics need, without parsing the stored FSRS states."""
        return [(r[0], r[1], from_iso(r[2]), r[3], r[4]) for r in self.db.execute(
            "SELECT card_id, rating, review_time, deck, prev_state FROM review_log "
            "WHERE review_time >= ? ORDER BY id", (iso(since),))]

    def due_dates(self) -> dict[str, tuple[datetime, str]]:
        """Every card's due time and deck, without parsing the stored FSRS states."""
        return {r[0]: (from_iso(r[1]), r[2]) for r in self.db.execute(
            "SELECT card_id, due, deck FROM card_state")}

    def review_counts(self) -> list[tuple[str, str, int]]:
        """(card id, deck, number of reviews) for every card and deck in the review log."""
        return [(r[0], r[1], int(r[2])) for r in self.db.execute(
            "SELECT card_id, deck, COUNT(*) FROM review_log GROUP BY card_id, deck")]

    def review_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM review_log").fetchone()[0])

    # -- writing ----------------------------------------------------------------------------------

    def record(self, card_id: str, *, before: Card | None, after: Card, log: ReviewLog, deck: str,
               answer_hash: str | None, correct: bool | None = None, session: str | None = None) -> int:
        """Save one rating (new state + log entry) in one committed transaction; returns the log id.

        ``before`` is the state the learner was shown (None for a new card). If another process rated
        the card in between, this rating still wins: the learner did see and rate the card.
        """
        lapse = 1 if (before is not None and before.state == 2 and int(log.rating) == 1) else 0
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO review_log (card_id, fsrs_card_id, rating, review_time, duration_ms, "
                "state_before, prev_state, state_after, answer_hash, deck, correct, session) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (card_id, after.card_id, int(log.rating), iso(log.review_datetime), log.review_duration,
                 card_to_json(before) if before is not None else None,
                 int(before.state) if before is not None else None, card_to_json(after),
                 answer_hash, deck, None if correct is None else int(correct), session))
            db.execute(
                "INSERT INTO card_state (card_id, fsrs, due, last_review, deck, answer_hash, reps, lapses) "
                "VALUES (?, ?, ?, ?, ?, ?, 1, ?) "
                "ON CONFLICT(card_id) DO UPDATE SET fsrs = excluded.fsrs, due = excluded.due, "
                "last_review = excluded.last_review, deck = excluded.deck, "
                "answer_hash = excluded.answer_hash, reps = card_state.reps + 1, "
                "lapses = card_state.lapses + excluded.lapses",
                (card_id, card_to_json(after), iso(after.due),
                 iso(after.last_review) if after.last_review else None, deck, answer_hash, lapse))
            rowid = cur.lastrowid
        assert rowid is not None
        return rowid

    def undo(self, review_id: int) -> str | None:
        """Take back one rating: delete its log entry and put the card back to its state before it.

        Returns the card id, or None when that log entry no longer exists.
        """
        with self._write() as db:
            row = db.execute(
                "SELECT card_id, state_before, rating FROM review_log WHERE id = ?", (review_id,)).fetchone()
            if row is None:
                return None
            card_id, before_json, rating = row
            db.execute("DELETE FROM review_log WHERE id = ?", (review_id,))
            prev = db.execute(
                "SELECT answer_hash FROM review_log WHERE card_id = ? ORDER BY id DESC LIMIT 1",
                (card_id,)).fetchone()
            if before_json is None:
                db.execute("DELETE FROM card_state WHERE card_id = ?", (card_id,))
            else:
                before = card_from_json(before_json)
                lapse = 1 if (before.state == 2 and rating == 1) else 0
                db.execute(
                    "UPDATE card_state SET fsrs = ?, due = ?, last_review = ?, answer_hash = ?, "
                    "reps = MAX(reps - 1, 0), lapses = MAX(lapses - ?, 0) WHERE card_id = ?",
                    (before_json, iso(before.due),
                     iso(before.last_review) if before.last_review else None,
                     prev[0] if prev else None, lapse, card_id))
        return str(card_id)
