"""Review state and review log in SQLite (stdlib ``sqlite3``).

One row per card id in ``card_state`` (the FSRS ``Card.to_dict()`` as JSON, plus the ``answer_hash`` of
the answer the learner last saw), and every rating in ``review_log`` (card id, rating, review time,
duration, the FSRS state before and after: enough for the FSRS optimizer). Every rating is its own
``BEGIN IMMEDIATE`` transaction, committed at once, in WAL mode with a busy timeout: a killed process
loses nothing it had rated, and several processes may share one database.

The schema version is ``PRAGMA user_version``; :data:`MIGRATIONS` upgrades older files in place. Our
databases carry ``PRAGMA application_id`` = :data:`APPLICATION_ID`: any other SQLite file (or a file
that is not SQLite) is refused before anything is written to it. Every row read back is validated
(:class:`StoreError` names the table, the row and what was expected).
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


#: ``PRAGMA application_id`` of a tnquiz review database: "tnqz" in ASCII.
APPLICATION_ID = int.from_bytes(b"tnqz", "big")
SQLITE_MAGIC = b"SQLite format 3\x00"
_OUR_TABLES = {"card_state", "review_log"}
_MAX_LISTED = 10  # damaged rows named in one error


class StoreError(Exception):
    """A database the quiz cannot use (newer schema, not a database, read-only, a damaged row, ...):
    one line per problem for the user."""


class _Rows:
    """Collects every damaged row of one read, then raises one :class:`StoreError` naming them all."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[str] = []

    def bad(self, table: str, key: str, column: str, expected: str, found: object) -> None:
        shown = repr(found)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        self.problems.append(f"{table} row {key}: {column} is {shown}, expected {expected}")

    def text(self, table: str, key: str, column: str, v: object, *, null: bool = False) -> str | None:
        if isinstance(v, str) or (null and v is None):
            return v
        self.bad(table, key, column, "text" + (" or NULL" if null else ""), v)
        return None

    def integer(self, table: str, key: str, column: str, v: object, lo: int, hi: int | None = None,
                *, null: bool = False) -> int | None:
        if v is None and null:
            return None
        if isinstance(v, int) and not isinstance(v, bool) and v >= lo and (hi is None or v <= hi):
            return v
        rng = f"an integer from {lo} to {hi}" if hi is not None else f"an integer >= {lo}"
        self.bad(table, key, column, rng + (" or NULL" if null else ""), v)
        return None

    def time(self, table: str, key: str, column: str, v: object) -> datetime | None:
        if isinstance(v, str):
            try:
                return from_iso(v)
            except ValueError:
                pass
        self.bad(table, key, column, "an ISO time (2025-03-01T09:00:00.000000+00:00)", v)
        return None

    def card(self, table: str, key: str, column: str, v: object) -> Card | None:
        try:
            if not isinstance(v, str):
                raise TypeError("not text")
            card = card_from_json(v)
            if card.due.tzinfo is None or (card.last_review is not None and card.last_review.tzinfo is None):
                raise ValueError("a time without a UTC offset")
            return card
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as e:
            self.bad(table, key, column, f"an FSRS card as JSON ({type(e).__name__}: {e})", v)
            return None

    def check(self) -> None:
        if not self.problems:
            return
        n = len(self.problems)
        listed = self.problems[:_MAX_LISTED] + ([f"... and {n - _MAX_LISTED} more"] if n > _MAX_LISTED else [])
        head = (f"the review database {self.path} has {n} damaged row{'s' if n != 1 else ''} "
                "(restore a backup, or delete the row with the sqlite3 shell):")
        raise StoreError("\n".join([head, *(f"  {p}" for p in listed)]))


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


def _v2(db: sqlite3.Connection) -> None:
    """``answer_ms``: the time from showing the card to showing the answer; ``duration_ms`` is from
    now on the whole review, from showing the card to the rating (what FSRS's optimizer reads)."""
    db.execute("ALTER TABLE review_log ADD COLUMN answer_ms INTEGER")


def _v3(db: sqlite3.Connection) -> None:
    """An exercise's attempt: the code the learner typed, and what the worker said about it."""
    db.execute("ALTER TABLE review_log ADD COLUMN attempt TEXT")
    db.execute("ALTER TABLE review_log ADD COLUMN feedback TEXT")


#: ``MIGRATIONS[i]`` takes a database from ``user_version`` i to i + 1.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2, _v3]
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
    duration_ms: int | None  # showing the card -> the rating (before schema 2: -> the answer)
    answer_ms: int | None  # showing the card -> showing the answer (NULL before schema 2)
    state_before: Card | None
    state_after: Card
    answer_hash: str | None
    deck: str
    correct: bool | None
    session: str | None
    attempt: str | None = None  # an exercise: the code the learner typed (NULL before schema 3)
    feedback: str | None = None  # an exercise: what running it showed


class Store:
    """One open database. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        memory = str(path) == ":memory:"
        if not memory:
            _check_file(self.path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the review database {self.path}: {e}") from e
        try:
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if self._claim():  # a new, empty database: mark it ours before anything else
                self.db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = FULL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except StoreError:
            self.db.close()
            raise
        except sqlite3.DatabaseError as e:
            self.db.close()
            raise StoreError(self._explain(e, "cannot use")) from e

    def _claim(self) -> bool:
        """Refuse any SQLite file that is not a tnquiz review database (nothing is written to it);
        True for a new, empty database, which the caller marks as ours."""
        app_id = int(self.db.execute("PRAGMA application_id").fetchone()[0])
        if app_id == APPLICATION_ID:
            return False
        tables = sorted(r[0] for r in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"))
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if app_id == 0 and not tables and version == 0:
            return True
        if app_id == 0 and set(tables) >= _OUR_TABLES and version >= 1:
            return False  # written before databases were marked: the migration marks it
        what = f"tables {', '.join(tables[:8])}{', ...' if len(tables) > 8 else ''}" if tables else "no tables"
        raise StoreError(
            f"cannot use the review database {self.path}: it is an SQLite database of another "
            f"program (application_id {app_id:#x}, {what}), not a tnquiz review database; nothing "
            "was written to it: pass another --db (or TNQUIZ_DB)")

    def _explain(self, e: sqlite3.Error, doing: str) -> str:
        text = str(e)
        if "readonly" in text or "read-only" in text:
            return (f"the review database {self.path} is read-only ({text}): make it writable "
                    "(and its folder: SQLite writes a -wal file beside it), or pass another --db")
        if "unable to open" in text:
            return (f"cannot open the review database {self.path} ({text}): it and its folder must be "
                    "readable and writable (SQLite writes -wal and -shm files beside it), or pass "
                    "another --db")
        return f"{doing} the review database {self.path}: {text}"

    def check_writable(self) -> None:
        """Raise :class:`StoreError` now if a rating could not be saved (a read-only file or folder):
        the quiz calls this before the first question, so no rating is ever lost to it."""
        try:
            with self._write() as db:
                db.execute("CREATE TABLE _tnquiz_write_probe (x INTEGER)")
                raise _Probe()
        except _Probe:
            pass

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
        timeout for another process), commits on success, rolls back on any error. SQLite errors
        become :class:`StoreError` (one line)."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise StoreError(self._explain(e, "cannot write to")) from e
        try:
            yield self.db
        except BaseException as e:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            if isinstance(e, sqlite3.Error):
                raise StoreError(self._explain(e, "cannot write to")) from e
            raise
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as e:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise StoreError(self._explain(e, "cannot write to")) from e

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
            if db.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def integrity_check(self) -> str:
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])

    # -- reading ----------------------------------------------------------------------------------

    def states(self, card_ids: Iterable[str] | None = None) -> dict[str, StoredState]:
        """The stored FSRS state of every card (or of ``card_ids``), by card id."""
        rows = self.db.execute(
            "SELECT rowid, card_id, fsrs, deck, answer_hash, reps, lapses FROM card_state").fetchall()
        wanted = set(card_ids) if card_ids is not None else None
        out: dict[str, StoredState] = {}
        check = _Rows(self.path)
        for rowid, cid, fsrs_json, deck, ahash, reps, lapses in rows:
            if wanted is not None and cid not in wanted:
                continue
            key = _key(rowid, cid, "card_id")
            n = len(check.problems)
            card_id = check.text("card_state", key, "card_id", cid)
            card = check.card("card_state", key, "fsrs", fsrs_json)
            deck_name = check.text("card_state", key, "deck", deck)
            answer_hash = check.text("card_state", key, "answer_hash", ahash, null=True)
            n_reps = check.integer("card_state", key, "reps", reps, 0)
            n_lapses = check.integer("card_state", key, "lapses", lapses, 0)
            if len(check.problems) == n:
                assert card_id is not None and card is not None and deck_name is not None
                assert n_reps is not None and n_lapses is not None
                out[card_id] = StoredState(card_id, card, deck_name, answer_hash, n_reps, n_lapses)
        check.check()
        return out

    def new_cards_since(self, since: datetime) -> dict[str, int]:
        """How many cards were seen for the first time at or after ``since``, by the deck logged with
        that first review (the daily new-card limit)."""
        out: dict[str, int] = {}
        for deck, n in self.db.execute(
                "SELECT deck, COUNT(DISTINCT card_id) FROM review_log "
                "WHERE state_before IS NULL AND review_time >= ? GROUP BY deck", (iso(since),)):
            out[str(deck)] = out.get(str(deck), 0) + int(n)
        return out

    def reviews(self, since: datetime | None = None, card_id: str | None = None) -> list[ReviewRow]:
        sql = ("SELECT id, card_id, rating, review_time, duration_ms, answer_ms, state_before, "
               "state_after, answer_hash, deck, correct, session, attempt, feedback FROM review_log")
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
        out: list[ReviewRow] = []
        check = _Rows(self.path)
        t = "review_log"
        for r in self.db.execute(sql, args):
            key = f"id={r[0]}"
            n = len(check.problems)
            cid = check.text(t, key, "card_id", r[1])
            rating = check.integer(t, key, "rating", r[2], 1, 4)
            when = check.time(t, key, "review_time", r[3])
            duration = check.integer(t, key, "duration_ms", r[4], 0, null=True)
            answer_ms = check.integer(t, key, "answer_ms", r[5], 0, null=True)
            before = check.card(t, key, "state_before", r[6]) if r[6] is not None else None
            after = check.card(t, key, "state_after", r[7])
            ahash = check.text(t, key, "answer_hash", r[8], null=True)
            deck = check.text(t, key, "deck", r[9])
            correct = check.integer(t, key, "correct", r[10], 0, 1, null=True)
            session = check.text(t, key, "session", r[11], null=True)
            attempt = check.text(t, key, "attempt", r[12], null=True)
            feedback = check.text(t, key, "feedback", r[13], null=True)
            if len(check.problems) == n:
                assert cid is not None and rating is not None and when is not None
                assert after is not None and deck is not None
                out.append(ReviewRow(
                    id=r[0], card_id=cid, rating=rating, review_time=when, duration_ms=duration,
                    answer_ms=answer_ms, state_before=before, state_after=after, answer_hash=ahash,
                    deck=deck, correct=None if correct is None else bool(correct), session=session,
                    attempt=attempt, feedback=feedback))
        check.check()
        return out

    def review_facts(self, since: datetime) -> list[tuple[str, int, datetime, str, int | None]]:
        """(card id, rating, review time, deck, FSRS state before or None) of every review since
        ``since``: what the statistics need, without parsing the stored FSRS states."""
        out: list[tuple[str, int, datetime, str, int | None]] = []
        check = _Rows(self.path)
        t = "review_log"
        fromiso = datetime.fromisoformat
        for r in self.db.execute(
                "SELECT id, card_id, rating, review_time, deck, prev_state FROM review_log "
                "WHERE review_time >= ? ORDER BY id", (iso(since),)):
            _, cid, rating, when, deck, prev = r
            # fast path for the rows tnquiz wrote; anything else goes through the checker
            if (type(cid) is str and type(rating) is int and 1 <= rating <= 4 and type(deck) is str
                    and type(when) is str and (prev is None or (type(prev) is int and 1 <= prev <= 3))):
                try:
                    moment = fromiso(when)
                except ValueError:
                    moment = None
                if moment is not None and moment.tzinfo is not None:
                    out.append((cid, rating, moment, deck, prev))
                    continue
            key = f"id={r[0]}"
            n = len(check.problems)
            cid = check.text(t, key, "card_id", r[1])
            rating = check.integer(t, key, "rating", r[2], 1, 4)
            moment = check.time(t, key, "review_time", r[3])
            deck = check.text(t, key, "deck", r[4])
            prev = check.integer(t, key, "prev_state", r[5], 1, 3, null=True)
            if len(check.problems) == n:
                assert cid is not None and rating is not None and moment is not None and deck is not None
                out.append((cid, rating, moment, deck, prev))
        check.check()
        return out

    def failed_attempts(self) -> list[tuple[str, str, int, int]]:
        """(card id, deck, attempts graded wrong, attempts) of every exercise attempted, most failed first."""
        out: list[tuple[str, str, int, int]] = []
        check = _Rows(self.path)
        for cid, deck, wrong, total in self.db.execute(
                "SELECT card_id, MAX(deck), SUM(correct = 0), COUNT(*) FROM review_log "
                "WHERE attempt IS NOT NULL GROUP BY card_id ORDER BY SUM(correct = 0) DESC, card_id"):
            n = len(check.problems)
            card_id = check.text("review_log", f"card_id={cid!r}"[:80], "card_id", cid)
            deck_name = check.text("review_log", f"card_id={cid!r}"[:80], "deck", deck)
            if len(check.problems) == n and card_id is not None and deck_name is not None:
                out.append((card_id, deck_name, int(wrong or 0), int(total)))
        check.check()
        return out

    def due_dates(self) -> dict[str, tuple[datetime, str]]:
        """Every card's due time and deck, without parsing the stored FSRS states."""
        out: dict[str, tuple[datetime, str]] = {}
        check = _Rows(self.path)
        for rowid, cid, due, deck in self.db.execute("SELECT rowid, card_id, due, deck FROM card_state"):
            key = _key(rowid, cid, "card_id")
            n = len(check.problems)
            card_id = check.text("card_state", key, "card_id", cid)
            when = check.time("card_state", key, "due", due)
            deck_name = check.text("card_state", key, "deck", deck)
            if len(check.problems) == n:
                assert card_id is not None and when is not None and deck_name is not None
                out[card_id] = (when, deck_name)
        check.check()
        return out

    def review_counts(self) -> list[tuple[str, str, int]]:
        """(card id, deck, number of reviews) for every card and deck in the review log."""
        return [(str(r[0]), str(r[1]), int(r[2])) for r in self.db.execute(
            "SELECT card_id, deck, COUNT(*) FROM review_log GROUP BY card_id, deck")]

    def review_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM review_log").fetchone()[0])

    # -- writing ----------------------------------------------------------------------------------

    def record(self, card_id: str, *, before: Card | None, after: Card, log: ReviewLog, deck: str,
               answer_hash: str | None, correct: bool | None = None, session: str | None = None,
               duration_ms: int | None = None, answer_ms: int | None = None,
               attempt: str | None = None, feedback: str | None = None) -> int:
        """Save one rating (new state + log entry) in one committed transaction; returns the log id.

        ``before`` is the state the learner was shown (None for a new card). If another process rated
        the card in between, this rating still wins: the learner did see and rate the card.
        ``duration_ms`` is the whole review (card shown -> rating; default: the FSRS log's),
        ``answer_ms`` the part until the answer was shown. An exercise's ``attempt`` (the code typed)
        and ``feedback`` (the verdict's text) are kept with it.
        """
        lapse = 1 if (before is not None and before.state == 2 and int(log.rating) == 1) else 0
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO review_log (card_id, fsrs_card_id, rating, review_time, duration_ms, "
                "answer_ms, state_before, prev_state, state_after, answer_hash, deck, correct, session, "
                "attempt, feedback) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (card_id, after.card_id, int(log.rating), iso(log.review_datetime),
                 log.review_duration if duration_ms is None else duration_ms, answer_ms,
                 card_to_json(before) if before is not None else None,
                 int(before.state) if before is not None else None, card_to_json(after),
                 answer_hash, deck, None if correct is None else int(correct), session, attempt, feedback))
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
            check = _Rows(self.path)
            key = f"id={review_id}"
            check.text("review_log", key, "card_id", card_id)
            check.integer("review_log", key, "rating", rating, 1, 4)
            before = check.card("review_log", key, "state_before", before_json) if before_json is not None else None
            check.check()
            db.execute("DELETE FROM review_log WHERE id = ?", (review_id,))
            prev = db.execute(
                "SELECT answer_hash FROM review_log WHERE card_id = ? ORDER BY id DESC LIMIT 1",
                (card_id,)).fetchone()
            if before_json is None:
                db.execute("DELETE FROM card_state WHERE card_id = ?", (card_id,))
            else:
                assert before is not None
                lapse = 1 if (before.state == 2 and rating == 1) else 0
                db.execute(
                    "UPDATE card_state SET fsrs = ?, due = ?, last_review = ?, answer_hash = ?, "
                    "reps = MAX(reps - 1, 0), lapses = MAX(lapses - ?, 0) WHERE card_id = ?",
                    (before_json, iso(before.due),
                     iso(before.last_review) if before.last_review else None,
                     prev[0] if prev else None, lapse, card_id))
        return str(card_id)


class _Probe(Exception):
    """Rolls back the write probe of :meth:`Store.check_writable`."""


def _key(rowid: object, value: object, column: str) -> str:
    return f"{column}={value!r}" if isinstance(value, str) else f"rowid={rowid}"


def _check_file(path: Path) -> None:
    """A file that is not SQLite at all is refused before SQLite opens it (one line)."""
    if path.is_dir():
        raise StoreError(f"cannot use the review database {path}: it is a folder; pass a file (--db)")
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except OSError as e:
        raise StoreError(f"cannot open the review database {path}: {e.strerror or e}") from e
    if head and head != SQLITE_MAGIC:
        raise StoreError(
            f"cannot use the review database {path}: it is not an SQLite database (it starts with "
            f"{head[:12]!r}); nothing was written to it: pass another --db (or TNQUIZ_DB)")
