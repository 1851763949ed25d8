"""The real ``tnquiz quiz`` in a pseudo-terminal (pexpect) over a deck built by the real ``tnquiz build``:
a session with right and wrong answers, undo and quit; a restart; a SIGKILL mid-session; two quiz
processes on one database."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixture_decks import E2E_CLOZE_YAML as CLOZE_DECK
from tests.fixture_decks import E2E_YAML as DECK

pexpect = pytest.importorskip("pexpect")

ROOT = Path(__file__).resolve().parent.parent
NOW = "2025-03-01T09:00:00+00:00"



def _tnquiz() -> list[str]:
    """The installed console script when there is one, else the same CLI through ``python -m``."""
    exe = shutil.which("tnquiz")
    return [exe] if exe else [sys.executable, "-m", "generator"]


def _build(tmp_path_factory: pytest.TempPathFactory, name: str, deck: str, cache: Path) -> Path:
    """``deck`` built once for real (its snippets ran in the worker into ``cache``, the session's
    fixture_cache: that needs torch); its cards.json."""
    pytest.importorskip("torch")
    d = tmp_path_factory.mktemp(name)
    (d / f"{name}.yaml").write_text(deck)
    env = {**os.environ, "TNQUIZ_CACHE_DIR": str(cache)}
    p = subprocess.run([sys.executable, "-m", "generator", "build", str(d / f"{name}.yaml"), "--out",
                        str(d / "build")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return d / "build" / "cards.json"


@pytest.fixture(scope="module")
def cards(tmp_path_factory: pytest.TempPathFactory, fixture_cache: Path) -> Path:
    """A small deck, built once for real."""
    out = _build(tmp_path_factory, "e2e", DECK, fixture_cache)
    assert [c["status"] for c in json.loads(out.read_text())["cards"]] == ["ok", "ok", "ok"]
    return out


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "reviews.sqlite3"


def _spawn(cards: Path, db: Path, now: str = NOW, *extra: str, env: dict[str, str] | None = None) -> Any:
    cmd = [*_tnquiz(), "quiz", "--cards", str(cards), *extra]
    e = {**os.environ, "TNQUIZ_DB": str(db), "TNQUIZ_NOW": now, "TERM": "dumb", **(env or {})}
    e.pop("NO_COLOR", None)
    return pexpect.spawn(cmd[0], cmd[1:], env=e, encoding="utf-8", timeout=30, dimensions=(50, 120))


@pytest.fixture
def procs() -> Iterator[list[Any]]:
    started: list[Any] = []
    yield started
    for p in started:
        if p.isalive():
            p.terminate(force=True)


def _reviews(db: Path) -> list[tuple[str, int]]:
    con = sqlite3.connect(db)
    try:
        return [(r[0], r[1]) for r in con.execute("SELECT card_id, rating FROM review_log ORDER BY id")]
    finally:
        con.close()


def _json_counts(cards: Path, db: Path, now: str = NOW) -> dict[str, int]:
    p = subprocess.run([*_tnquiz(), "quiz", "--cards", str(cards), "--json"], capture_output=True,
                       text=True, timeout=60, env={**os.environ, "TNQUIZ_DB": str(db), "TNQUIZ_NOW": now})
    assert p.returncode == 0, p.stderr
    counts: dict[str, int] = json.loads(p.stdout)["counts"]
    return counts


def test_session_right_wrong_undo_quit_and_restart(cards: Path, db: Path, procs: list[Any]) -> None:
    p = _spawn(cards, db)
    procs.append(p)
    p.expect("0 due, 3 new")
    p.expect(r"Due 0 · New 3 · Done 0")
    p.expect("What is the shape of torch.squeeze")
    p.expect(r"Shape\? \(e\.g\. 2x3\) ")
    p.sendline("(1, 2, 3)")
    p.expect("✓ Right")
    p.expect(r"Answer: torch\.Size\(\[1, 2, 3\]\)")
    p.expect("Only a dimension of size 1 is removed")
    p.expect("Source: notes.md#squeeze")
    p.expect(r"1: Again \(1m\)  2: Hard \(6m\)  3: Good \(10m\)  4: Easy \(8d\)")
    p.expect(r"Rating \[Enter = 3 Good\]: ")
    p.sendline("")  # accept Good: due again in 10m, so it comes back in this session
    p.expect(r"Due 0 now, 1 in 10m · New 2 · Done 1")  # not due now: due later in this session
    p.expect(r"dtype\? ")
    p.sendline("float32")
    p.expect("✗ Wrong")
    p.expect("Answer: torch.int64")
    p.expect(r"Rating \[Enter = 1 Again\]: ")
    p.sendline("")
    p.expect(r"Due 0 now, 2 in 1m · New 1 · Done 2")
    p.expect(r"Which exception\? ")
    p.sendline("RuntimeErr")
    p.expect(r"Rating \[Enter = 1 Again\]: ")
    p.sendline("u")  # at the rating prompt: takes back this answer (q-error), nothing saved
    p.expect(r"Took back your answer to q-error \(not rated, nothing saved\): it is asked again\.")
    p.expect(r"Due 0 now, 2 in 1m · New 1 · Done 2")
    p.expect(r"Which exception\? ")
    p.sendline("u")  # at the question: undoes the card just rated (the Again on q-dtype)
    p.expect(r"Undid your rating Again of q-dtype: it is asked again\.")
    p.expect(r"Due 0 now, 1 in 10m · New 2 · Done 1")
    p.expect(r"dtype\? ")
    p.sendline("long")
    p.expect("✓ Right")
    p.expect(r"Rating \[Enter = 3 Good\]: ")
    p.sendline("4")  # Easy: 8 days, not back today
    p.expect(r"Due 0 now, 1 in 10m · New 1 · Done 2")
    p.expect(r"Which exception\? ")
    p.sendline("q")
    p.expect(r"Reviewed 2 cards: 2 right, 0 wrong\.")
    p.expect(r"Next card due in 10m")
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == 0
    assert _reviews(db) == [("q-shape", 3), ("q-dtype", 4)]
    con = sqlite3.connect(db)
    try:  # every review's duration: card shown -> rating, and the part until the answer was shown
        for duration, answer in con.execute("SELECT duration_ms, answer_ms FROM review_log"):
            assert isinstance(duration, int) and isinstance(answer, int) and 0 <= answer <= duration
    finally:
        con.close()

    # same moment again: q-shape (due in 10m, within the learn-ahead) and the unseen q-error
    counts = _json_counts(cards, db)
    assert (counts["due"], counts["new_in_queue"], counts["new_today"]) == (1, 1, 2)
    p = _spawn(cards, db)
    procs.append(p)
    p.expect("0 due now, 1 in 10m, 1 new")
    p.expect(r"Deck: .*cards\.json \(given\)")
    p.expect(r"Due 0 now, 1 in 10m · New 1 · Done 0")
    p.expect(r"Shape\? ")
    p.sendline("q")
    p.expect(r"Reviewed 0 cards")
    p.expect(pexpect.EOF)

    # nine days later both reviewed cards are due; the daily new limit starts over
    later = "2025-03-10T09:00:00+00:00"
    counts = _json_counts(cards, db, later)
    assert (counts["due"], counts["new_in_queue"], counts["new_today"]) == (2, 1, 0)
    p = _spawn(cards, db, later, "--new", "0")
    procs.append(p)
    p.expect("2 due, 0 new")
    p.expect(r"Due 2 · New 0 · Done 0")
    p.sendline("q")
    p.expect(pexpect.EOF)




@pytest.fixture(scope="module")
def cloze_cards(tmp_path_factory: pytest.TempPathFactory, fixture_cache: Path) -> Path:
    """One cloze card whose blank has an equivalent (`dim=-1`), built for real."""
    out = _build(tmp_path_factory, "e2e-cloze", CLOZE_DECK, fixture_cache)
    assert [c["cloze_equivalents"] for c in json.loads(out.read_text())["cards"]] == [["dim=-1"]]
    return out


def test_cloze_equivalent_is_right_and_a_wrong_filling_is_not(cloze_cards: Path, db: Path,
                                                              procs: list[Any]) -> None:
    p = _spawn(cloze_cards, db)
    procs.append(p)
    p.expect(r"What goes in the blank\? ")
    p.sendline("dim = -1")
    p.expect("✓ Right")
    p.expect("Answer: dim=1")
    p.expect("Also right: dim=-1")
    p.expect(r"Rating \[Enter = 3 Good\]: ")
    p.sendline("u")  # take the answer back: asked again
    p.expect(r"What goes in the blank\? ")
    p.sendline("dim=0")
    p.expect("✗ Wrong")
    p.expect(r"Rating \[Enter = 1 Again\]: ")
    p.sendline("q")
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == 0


def test_kill_9_mid_session_loses_nothing_rated(cards: Path, db: Path, procs: list[Any]) -> None:
    p = _spawn(cards, db, env={"PYTHONPROFILEIMPORTTIME": "1"})
    procs.append(p)
    p.expect(r"Shape\? ")
    # everything before the first prompt: the interactive path imported no torch
    imported = [line.split("|")[-1].strip() for line in p.before.splitlines() if "import time" in line]
    assert "rich.console" in imported and "generator.quiz.ui" in imported
    assert not [m for m in imported if m.split(".")[0] == "torch" or m in ("generator.execute.runner", "generator.execute.worker")]
    p.sendline("1x2x3")
    p.expect(r"Rating \[Enter = 3 Good\]: ")
    p.sendline("")
    p.expect(r"dtype\? ")
    p.sendline("int64")
    p.expect(r"Rating \[Enter = 3 Good\]: ")
    p.sendline("2")
    p.expect(r"Which exception\? ")
    p.sendline("RuntimeError")
    p.expect(r"Rating \[Enter = 3 Good\]: ")  # the third card is on screen, not rated yet
    os.kill(p.pid, signal.SIGKILL)
    p.expect(pexpect.EOF)
    p.close()
    assert p.signalstatus == signal.SIGKILL
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT COUNT(*) FROM card_state").fetchone()[0] == 2
    finally:
        con.close()
    assert _reviews(db) == [("q-shape", 3), ("q-dtype", 2)]
    counts = _json_counts(cards, db)
    assert counts["new_today"] == 2 and counts["new_in_queue"] == 1


def test_two_quiz_processes_share_one_db(cards: Path, db: Path, procs: list[Any]) -> None:
    a = _spawn(cards, db)
    b = _spawn(cards, db)
    procs += [a, b]
    for p in (a, b):
        p.expect(r"Shape\? ")
    # interleave: both rate q-shape, then both rate q-dtype, each commit visible to the other
    for p, typed in ((a, "1x2x3"), (b, "2x3")):
        p.sendline(typed)
        p.expect(r"Rating \[Enter = \d \w+\]: ")
    a.sendline("")
    b.sendline("")
    for p in (a, b):
        p.expect(r"dtype\? ")
        p.sendline("int64")
        p.expect(r"Rating \[Enter = 3 Good\]: ")
    a.sendline("4")
    b.sendline("3")
    for p in (a, b):
        p.expect(r"Which exception\? ")
        p.sendline("q")
        p.expect(r"Reviewed 2 cards")
        p.expect(pexpect.EOF)
    assert sorted(_reviews(db)) == sorted([("q-shape", 3), ("q-shape", 1), ("q-dtype", 4), ("q-dtype", 3)])
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT reps FROM card_state WHERE card_id = 'q-shape'").fetchone()[0] == 2
    finally:
        con.close()


def test_stdin_not_a_terminal(cards: Path, db: Path) -> None:
    p = subprocess.run([*_tnquiz(), "quiz", "--cards", str(cards)], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "TNQUIZ_DB": str(db), "TNQUIZ_NOW": NOW})
    assert p.returncode == 1
    assert p.stderr.strip().splitlines() == [
        "Error: stdin is not a terminal: run `tnquiz quiz` in a terminal, or add --json to print the queue"]


def test_no_built_deck(tmp_path: Path, db: Path) -> None:
    p = subprocess.run([*_tnquiz(), "quiz"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "TNQUIZ_DB": str(db)})
    assert p.returncode == 1
    assert "run `tnquiz build` first" in p.stderr and "Traceback" not in p.stderr
