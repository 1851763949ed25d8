"""The review database is hostile until validated: our files are marked (application_id) and any
other file is refused untouched; a read-only database stops the quiz before the first question; a
damaged row is one line naming the table, the row and what was expected."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.quiz import store as store_mod
from generator.quiz.cli import quiz, stats
from generator.quiz.scheduler import Rating, make_scheduler, new_card, outcomes
from generator.quiz.store import APPLICATION_ID, SCHEMA_VERSION, Store, StoreError

ROOT = Path(__file__).resolve().parent.parent
CARDS = Path(__file__).parent / "data" / "quiz_cards.json"
NOW = "2025-03-01T09:00:00+00:00"
T0 = datetime(2025, 3, 1, 9, tzinfo=timezone.utc)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rate(store: Store, card_id: str, rating: Rating, when: datetime) -> int:
    st = store.states([card_id])
    before = st[card_id].card if card_id in st else None
    o = outcomes(make_scheduler(fuzz=False), before or new_card(card_id, when), when)[rating]
    return store.record(card_id, before=before, after=o.card, log=o.log, deck="PyTorch::Tensors::Shapes",
                        answer_hash="h", duration_ms=2000, answer_ms=1500)


def _invoke(cmd: Any, *args: str) -> Any:
    return CliRunner().invoke(cmd, list(args), env={"TNQUIZ_NOW": NOW})


def test_our_databases_are_marked(tmp_path: Path) -> None:
    with Store(tmp_path / "r.db") as s:
        assert s.db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert s.schema_version == SCHEMA_VERSION == 3
    head = (tmp_path / "r.db").read_bytes()[:100]
    assert int.from_bytes(head[68:72], "big") == APPLICATION_ID  # in the file itself, not only the WAL


def test_an_unmarked_tnquiz_database_is_upgraded(tmp_path: Path) -> None:
    """A schema-1 database written before databases were marked: kept, migrated, marked."""
    path = tmp_path / "old.db"
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("BEGIN")
    store_mod._v1(con)
    con.execute("PRAGMA user_version = 1")
    con.execute(
        "INSERT INTO review_log (card_id, fsrs_card_id, rating, review_time, duration_ms, state_after, deck) "
        "VALUES ('a', 1, 3, '2025-03-01T09:00:00.000000+00:00', 1234, ?, 'D')",
        (json.dumps(new_card("a", T0).to_dict()),))
    con.execute("COMMIT")
    con.close()
    with Store(path) as s:
        assert s.schema_version == 3
        assert s.db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        [row] = s.reviews()
        assert (row.card_id, row.duration_ms, row.answer_ms) == ("a", 1234, None)


def test_another_programs_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    foreign = tmp_path / "photos.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE photos (id INTEGER, path TEXT)")
    con.execute("CREATE TABLE albums (id INTEGER)")
    con.commit()
    con.close()
    marked = tmp_path / "other-app.db"  # no tables yet, but marked by another program
    con = sqlite3.connect(marked)
    con.execute("PRAGMA application_id = 42")
    con.commit()
    con.close()
    for path, what in ((foreign, "application_id 0x0, tables albums, photos"),
                       (marked, "application_id 0x2a, no tables")):
        before = _digest(path)
        r = _invoke(quiz, str(CARDS), "--db", str(path), "--json")
        assert r.exit_code == 1
        assert r.output.strip().splitlines() == [
            f"Error: cannot use the review database {path}: it is an SQLite database of another "
            f"program ({what}), not a tnquiz review database; nothing was written to it: pass "
            "another --db (or TNQUIZ_DB)"]
        r = _invoke(stats, str(CARDS), "--db", str(path))
        assert r.exit_code == 1 and "not a tnquiz review database" in r.output
        assert _digest(path) == before
        con = sqlite3.connect(path)
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # never switched to WAL
        assert "card_state" not in {t for (t,) in con.execute("SELECT name FROM sqlite_master")}
        con.close()
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(path.name)) == [path.name]


def test_a_file_that_is_not_sqlite_is_one_line(tmp_path: Path) -> None:
    for name, data in (("notes.txt", b"my notes\n" * 50), ("cards.json", CARDS.read_bytes()),
                       ("short", b"\x00\x01")):
        path = tmp_path / name
        path.write_bytes(data)
        r = _invoke(quiz, str(CARDS), "--db", str(path), "--json")
        assert r.exit_code == 1
        assert r.output.strip().splitlines() == [
            f"Error: cannot use the review database {path}: it is not an SQLite database (it starts "
            f"with {data[:12]!r}); nothing was written to it: pass another --db (or TNQUIZ_DB)"]
        assert path.read_bytes() == data
    r = _invoke(quiz, str(CARDS), "--db", str(tmp_path), "--json")
    assert r.exit_code == 2 and "Error: Invalid value for '--db': File" in r.output
    with pytest.raises(StoreError, match="it is a folder; pass a file"):
        Store(tmp_path)


def _readonly(path: Path, cmd: list[str]) -> list[str] | None:
    """``cmd`` run with ``path`` (the database file, or its folder) read-only, or None."""
    bwrap = shutil.which("bwrap")
    if bwrap:
        probe = subprocess.run([bwrap, "--dev-bind", "/", "/", "--ro-bind", str(path), str(path), "true"],
                               capture_output=True)
        if probe.returncode == 0:
            return [bwrap, "--dev-bind", "/", "/", "--ro-bind", str(path), str(path), *cmd]
    if os.geteuid() != 0:
        path.chmod(0o555 if path.is_dir() else 0o444)
        return cmd
    return None


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_database_stops_before_the_first_question(tmp_path: Path, what: str) -> None:
    pexpect = pytest.importorskip("pexpect")
    db = tmp_path / "data" / "r.db"
    with Store(db) as s:
        _rate(s, "squeeze-dim-1", Rating.Easy, T0 - timedelta(days=30))  # due now
    cmd = _readonly(db if what == "file" else db.parent,
                    [sys.executable, "-m", "generator", "quiz", str(CARDS), "--db", str(db)])
    if cmd is None:
        pytest.skip("no way to make a file read-only here (root without bubblewrap)")
    env = {**os.environ, "TNQUIZ_NOW": NOW, "TERM": "dumb", "TNQUIZ_DB": str(tmp_path / "default.db")}
    p = pexpect.spawn(cmd[0], cmd[1:], env=env, encoding="utf-8", timeout=60, dimensions=(50, 120), cwd=ROOT)
    p.expect(pexpect.EOF)
    p.close()
    out = p.before.replace("\r\n", "\n")
    assert p.exitstatus == 1, out
    expected = {
        "file": f"Error: the review database {db} is read-only (attempt to write a readonly database): "
                "make it writable (and its folder: SQLite writes a -wal file beside it), or pass another --db",
        "folder": f"Error: cannot open the review database {db} (unable to open database file): it and its "
                  "folder must be readable and writable (SQLite writes -wal and -shm files beside it), or "
                  "pass another --db"}
    assert expected[what] in " ".join(out.split())
    assert "Shape?" not in out and "Traceback" not in out
    with Store(db) as s:
        assert s.review_count() == 1  # the history is intact
    # the same database, writable again: the quiz starts
    cmd = [sys.executable, "-m", "generator", "quiz", str(CARDS), "--db", str(db)]
    db.chmod(0o644)
    db.parent.chmod(0o755)
    p = pexpect.spawn(cmd[0], cmd[1:], env=env, encoding="utf-8", timeout=60, dimensions=(50, 120), cwd=ROOT)
    p.expect(r"Shape\? ")
    p.sendline("q")
    p.expect(pexpect.EOF)


def _damage(db: Path, sql: str, *args: object) -> None:
    con = sqlite3.connect(db)
    con.execute(sql, args)
    con.commit()
    con.close()


def test_damaged_rows_are_one_line_each(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with Store(db) as s:
        for cid in ("squeeze-dim-1", "arange-dtype", "sum-value", "eye-tensor"):
            _rate(s, cid, Rating.Good, T0 - timedelta(days=3))
    bad_state = json.dumps({**new_card("x", T0).to_dict(), "state": 9})
    _damage(db, "UPDATE card_state SET fsrs = '{not json' WHERE card_id = 'squeeze-dim-1'")
    _damage(db, "UPDATE card_state SET fsrs = ?, reps = 'many' WHERE card_id = 'arange-dtype'", bad_state)
    _damage(db, "UPDATE review_log SET rating = 7 WHERE card_id = 'sum-value'")
    _damage(db, "UPDATE review_log SET review_time = 'yesterday', prev_state = 'x' WHERE card_id = 'eye-tensor'")
    r = _invoke(quiz, str(CARDS), "--db", str(db), "--json")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.output.strip().splitlines() == [
        f"Error: the review database {db} has 3 damaged rows (restore a backup, or delete the row "
        "with the sqlite3 shell):",
        "  card_state row card_id='squeeze-dim-1': fsrs is '{not json', expected an FSRS card as JSON "
        "(JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 (char 1))",
        f"  card_state row card_id='arange-dtype': fsrs is {repr(bad_state)[:57]}..., expected an FSRS "
        "card as JSON (ValueError: 9 is not a valid State)",
        "  card_state row card_id='arange-dtype': reps is 'many', expected an integer >= 0",
    ]
    r = _invoke(stats, str(CARDS), "--db", str(db))
    assert r.exit_code == 1 and "Traceback" not in r.output
    lines = r.output.strip().splitlines()
    assert lines[0] == (f"Error: the review database {db} has 3 damaged rows (restore a backup, or "
                        "delete the row with the sqlite3 shell):")
    assert lines[1:] == [
        "  review_log row id=3: rating is 7, expected an integer from 1 to 4",
        "  review_log row id=4: review_time is 'yesterday', expected an ISO time "
        "(2025-03-01T09:00:00.000000+00:00)",
        "  review_log row id=4: prev_state is 'x', expected an integer from 1 to 3 or NULL",
    ]
    with Store(db) as s, pytest.raises(StoreError, match=r"review_log row id=3: rating is 7"):
        s.reviews()
