"""Exercises in the real ``tnquiz quiz`` on a pseudo-terminal (pexpect), over a deck built by the real
``tnquiz build``: the learner's code is graded by the worker (right in another spelling, a wrong
shape, an exception, an endless loop), Esc cancels, the worker starts behind the first question,
attempts land in the review log and ``tnquiz stats`` lists the most failed exercises."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixture_decks import EXERCISE_YAML as DECK
from tests.test_quiz_e2e import _tnquiz

pexpect = pytest.importorskip("pexpect")

ROOT = Path(__file__).resolve().parent.parent
NOW = "2025-03-01T09:00:00+00:00"



@pytest.fixture(scope="module")
def cards(tmp_path_factory: pytest.TempPathFactory, fixture_cache: Path) -> Path:
    pytest.importorskip("torch")
    d = tmp_path_factory.mktemp("e2e-ex")
    (d / "ex.yaml").write_text(DECK)
    env = {**os.environ, "TNQUIZ_CACHE_DIR": str(fixture_cache)}  # its cards ran there
    p = subprocess.run([sys.executable, "-m", "generator", "build", str(d / "ex.yaml"), "--out", str(d / "build")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    out = d / "build" / "cards.json"
    assert [c["status"] for c in json.loads(out.read_text())["cards"]] == ["ok", "ok"]
    return out


@pytest.fixture
def procs() -> Iterator[list[Any]]:
    started: list[Any] = []
    yield started
    for p in started:
        if p.isalive():
            p.terminate(force=True)


def _spawn(cards: Path, db: Path, env: dict[str, str] | None = None) -> Any:
    cmd = [*_tnquiz(), "quiz", "--cards", str(cards)]
    e = {**os.environ, "TNQUIZ_DB": str(db), "TNQUIZ_NOW": NOW, "TERM": "dumb", **(env or {})}
    e.pop("NO_COLOR", None)
    return pexpect.spawn(cmd[0], cmd[1:], env=e, encoding="utf-8", timeout=60, dimensions=(50, 160))


def _descendants(pid: int) -> list[str]:
    """The command lines of the processes below ``pid`` (the worker may sit under bubblewrap)."""
    parent: dict[int, int] = {}
    cmdline: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            child = int(stat.parent.name)
            parent[child] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline[child] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
    below, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        below += [cmdline.get(c, "") for c in kids]
        todo += kids
    return below


def _words(text: str) -> str:
    """A pattern for ``text`` as the terminal shows it: rich may wrap it at any space."""
    return r"\s+".join(re.escape(w) for w in text.split())


def _answer(p: Any, *lines: str) -> None:
    p.expect("code> ")
    p.sendline(lines[0])
    for line in lines[1:]:
        p.expect(r"\.\.\.> ")
        p.sendline(line)
    p.expect(r"\.\.\.> ")
    p.sendline("")  # an empty line runs it


def test_exercises_are_graded_by_the_worker_in_a_real_terminal(cards: Path, tmp_path: Path, procs: list[Any]) -> None:
    db = tmp_path / "reviews.sqlite3"
    p = _spawn(cards, db, env={"PYTHONPROFILEIMPORTTIME": "1"})
    procs.append(p)
    p.expect("Turn the image batch x")
    before = p.before
    p.expect("code> ")
    # the worker is already starting, in the background, while the first question is on screen;
    # the quiz process itself imported no torch
    deadline = time.monotonic() + 60  # started on a thread while the question waits (generous: CI may be loaded)
    while not any("generator.execute.worker" in c for c in _descendants(p.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any("generator.execute.worker" in c for c in _descendants(p.pid))
    imported = [line.split("|")[-1].strip() for line in (before + p.before).splitlines() if "import time" in line]
    assert "generator.quiz.ui" in imported and not [m for m in imported if m.split(".")[0] == "torch"]
    p.sendline("y = x.movedim(3, 1)")  # a different spelling of the solution
    p.expect(r"\.\.\.> ")
    p.sendline("")
    p.expect("✓ Right  same result as the solution on all 3 inputs")
    p.expect("Solution:")
    p.expect(r"y = x\.permute\(0, 3, 1, 2\)")
    p.expect("Hint: permute takes the new order")
    p.expect(r"Rating \[Enter = 3 Good\]: ")
    p.sendline("")

    # a wrong shape: the difference is shown, Again proposed
    p.expect("Make y, the last column")
    _answer(p, "y = x[:, -1:]")
    p.expect(r"✗ Wrong  on the card's setup: shape \(2, 1\), expected \(2,\)")
    p.expect(r"y = x\[:, -1\]")
    p.expect(r"Rating \[Enter = 1 Again\]: ")
    p.sendline("")

    # an exception, with the learner's line; two lines typed
    p.expect("Turn the image batch x")
    p.expect("code> ")
    p.sendline("z = x.contiguous()")
    p.expect(r"\.\.\.> ")
    p.sendline("y = z.view(7, -1)")
    # Esc cancels what was typed: the card is asked again
    p.expect(r"\.\.\.> ")
    p.sendline("\x1b")
    p.expect("Cancelled: type your code again")
    p.expect("code> ")
    p.sendline("y = x")
    p.expect(r"\.\.\.> ")
    p.sendintr()  # Ctrl-C cancels too, and reaches neither the quiz's exit nor the worker
    p.expect("Cancelled: type your code again")
    _answer(p, "z = x.contiguous()", "y = z.view(7, -1)")
    p.expect(_words("✗ Wrong on the card's setup: raised RuntimeError: shape '[7, -1]' is invalid for input of size 120 "
                    "(line 2: `y = z.view(7, -1)`)"))
    p.expect(r"Rating \[Enter = 1 Again\]: ")
    p.sendline("")

    # an endless loop is stopped after the card's timeout; the quiz goes on
    p.expect("Make y, the last column")
    _answer(p, "while True:", "    pass")
    p.expect(_words("✗ Wrong timed out after 2 s and was stopped (an endless loop?)"), timeout=60)
    p.expect(r"Rating \[Enter = 1 Again\]: ")
    p.sendline("")
    p.expect("Turn the image batch x")
    _answer(p, "y = x.permute(0, 3, 1, 2)")
    t0 = time.monotonic()
    p.expect("✓ Right")
    assert time.monotonic() - t0 < 30  # the worker survived the runaway (a fresh start would also pass, slower)
    p.expect(r"Rating \[Enter = 3 Good\]: ")
    p.sendline("")
    p.expect("code> ")
    p.sendline("q")  # a command alone on the first line
    p.expect(r"Reviewed 5 cards: 2 right, 3 wrong\.")
    p.expect(pexpect.EOF)
    p.close()
    assert p.exitstatus == 0

    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT card_id, rating, correct, attempt, feedback, duration_ms FROM review_log ORDER BY id").fetchall()
    finally:
        con.close()
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("ex-hwc", 3, 1, "y = x.movedim(3, 1)"),
        ("ex-col", 1, 0, "y = x[:, -1:]"),
        ("ex-hwc", 1, 0, "z = x.contiguous()\ny = z.view(7, -1)"),
        ("ex-col", 1, 0, "while True:\n    pass"),
        ("ex-hwc", 3, 1, "y = x.permute(0, 3, 1, 2)"),
    ]
    assert rows[1][4] == "on the card's setup: shape (2, 1), expected (2,)"
    assert all(isinstance(r[5], int) and r[5] >= 0 for r in rows)

    stats = subprocess.run([*_tnquiz(), "stats", "--cards", str(cards)], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "TNQUIZ_DB": str(db), "TNQUIZ_NOW": NOW})
    assert stats.returncode == 0, stats.stderr
    block = stats.stdout.split("Exercises most often failed\n", 1)[1].splitlines()
    assert [line.split() for line in block[:3]] == [
        ["exercise", "deck", "failed", "attempts"],
        ["ex-col", "Quiz::Exercises", "2", "2"],
        ["ex-hwc", "Quiz::Exercises", "1", "3"],
    ]
