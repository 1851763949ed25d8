"""The SQLite review store: fixed clock, fuzzing off; undo, migrations, two writers at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from generator.quiz.decks import default_db_path
from generator.quiz.scheduler import Rating, make_scheduler, new_card, outcomes
from generator.quiz.store import SCHEMA_VERSION, Store, StoreError

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)
ROOT = Path(__file__).resolve().parent.parent


def _rate(store: Store, card_id: str, rating: Rating, when: datetime, deck: str = "D",
          answer_hash: str = "h1") -> int:
    states = store.states([card_id])
    before = states[card_id].card if card_id in states else None
    out = outcomes(make_scheduler(fuzz=False), before or new_card(card_id, when), when, 1500)[rating]
    return store.record(card_id, before=before, after=out.card, log=out.log, deck=deck,
                        answer_hash=answer_hash, correct=rating != Rating.Again, session="s1")


def test_record_keeps_state_and_full_log(tmp_path: Path) -> None:
    with Store(tmp_path / "r.db") as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        _rate(store, "a", Rating.Good, NOW)
        _rate(store, "a", Rating.Good, NOW + timedelta(minutes=10))
        _rate(store, "b", Rating.Again, NOW)
        st = store.states()
        assert set(st) == {"a", "b"}
        assert st["a"].reps == 2 and st["a"].answer_hash == "h1" and st["a"].deck == "D"
        assert st["a"].due - (NOW + timedelta(minutes=10)) >= timedelta(days=1)  # graduated
        logs = store.reviews(card_id="a")
        assert [r.rating for r in logs] == [3, 3]
        assert logs[0].state_before is None  # a new card
        assert logs[1].state_before is not None and logs[1].state_before.to_dict() == logs[0].state_after.to_dict()
        assert logs[0].duration_ms == 1500 and logs[0].review_time == NOW and logs[0].correct is True
        assert store.review_count() == 3
    # a fresh connection (another process later) sees all of it
    with Store(tmp_path / "r.db") as again:
        assert again.review_count() == 3 and again.integrity_check() == "ok"


def test_new_cards_counted_per_day(tmp_path: Path) -> None:
    with Store(tmp_path / "r.db") as store:
        _rate(store, "a", Rating.Good, NOW - timedelta(days=1))
        _rate(store, "b", Rating.Good, NOW)
        _rate(store, "b", Rating.Good, NOW + timedelta(minutes=10))  # not new any more
        _rate(store, "c", Rating.Again, NOW)
        today = NOW.replace(hour=0)
        assert sum(store.new_cards_since(today).values()) == 2
        assert sum(store.new_cards_since(today - timedelta(days=1)).values()) == 3


def test_undo_restores_the_state_before(tmp_path: Path) -> None:
    with Store(tmp_path / "r.db") as store:
        first = _rate(store, "a", Rating.Good, NOW, answer_hash="old")
        before = store.states()["a"]
        second = _rate(store, "a", Rating.Again, NOW + timedelta(minutes=10), answer_hash="new")
        assert store.states()["a"].answer_hash == "new"
        assert store.undo(second) == "a"
        after = store.states()["a"]
        assert after.card.to_dict() == before.card.to_dict()
        assert after.reps == 1 and after.answer_hash == "old"
        assert store.undo(first) == "a"
        assert store.states() == {}  # a new card again
        assert store.review_count() == 0
        assert store.undo(first) is None


def test_migrates_an_empty_file_and_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    sqlite3.connect(path).close()  # an empty database: user_version 0
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(StoreError, match="newer than this tnquiz"):
        Store(path)


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    path.write_text("hello, this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot use the review database"):
        Store(path)


def test_default_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TNQUIZ_DB", str(tmp_path / "x.db"))
    assert default_db_path() == tmp_path / "x.db"
    monkeypatch.delenv("TNQUIZ_DB")
    from platformdirs import user_data_dir

    assert default_db_path() == Path(user_data_dir("tnquiz")) / "reviews.sqlite3"
    assert "build" not in default_db_path().parts


WRITER = textwrap.dedent("""
    import sys, time
    from datetime import datetime, timedelta, timezone
    from generator.quiz.scheduler import Rating, make_scheduler, new_card, outcomes
    from generator.quiz.store import Store
    db, name, n, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    while time.time() < start:
        time.sleep(0.001)
    s = make_scheduler(fuzz=False)
    now = datetime(2025, 3, 1, 9, tzinfo=timezone.utc)
    for i in range(n):
        store = Store(db)  # a fresh connection now and then, like separate quiz runs
        for cid in (f"{name}-{i}", "shared"):
            st = store.states([cid])
            before = st[cid].card if cid in st else None
            o = outcomes(s, before or new_card(cid, now), now + timedelta(seconds=i))[Rating.Good]
            store.record(cid, before=before, after=o.card, log=o.log, deck="D", answer_hash="h")
        store.close()
    print("done")
""")


def test_two_processes_writing_the_same_db(tmp_path: Path) -> None:
    import time

    db = tmp_path / "r.db"
    Store(db).close()
    n = 60
    start = time.time() + 1.0
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), name, str(n), str(start)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("p1", "p2")]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "done" in out
    with Store(db) as store:
        assert store.integrity_check() == "ok"
        assert store.review_count() == 4 * n
        st = store.states()
        assert len(st) == 2 * n + 1
        assert st["shared"].reps == 2 * n  # every rating counted, none lost
        assert len(store.reviews(card_id="shared")) == 2 * n
