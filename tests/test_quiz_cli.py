"""``tnquiz quiz --json`` / ``tnquiz stats`` without a terminal, errors, and the no-torch rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.quiz.cli import quiz, stats
from generator.quiz.scheduler import Rating, make_scheduler, new_card, outcomes
from generator.quiz.store import Store

ROOT = Path(__file__).resolve().parent.parent
CARDS = Path(__file__).parent / "data" / "quiz_cards.json"
NOW = "2025-03-01T09:00:00+00:00"
T0 = datetime(2025, 3, 1, 9, tzinfo=timezone.utc)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    e = {"TNQUIZ_DB": str(tmp_path / "db" / "reviews.sqlite3"), "TNQUIZ_NOW": NOW}
    for k, v in e.items():
        monkeypatch.setenv(k, v)
    return e


def _invoke(cmd: Any, *args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(cmd, list(args), input=input, catch_exceptions=False)


def _rate(db: Path, card_id: str, rating: Rating, when: datetime, answer_hash: str = "h") -> None:
    with Store(db) as store:
        st = store.states([card_id])
        before = st[card_id].card if card_id in st else None
        o = outcomes(make_scheduler(fuzz=False), before or new_card(card_id, when), when)[rating]
        store.record(card_id, before=before, after=o.card, log=o.log, deck="PyTorch::Tensors::Shapes",
                     answer_hash=answer_hash)


def test_help_has_examples() -> None:
    for cmd in (quiz, stats):
        r = _invoke(cmd, "--help")
        assert r.exit_code == 0
        assert "Examples:" in r.output and "tnquiz " in r.output


def test_quiz_json_queue(env: dict[str, str]) -> None:
    r = _invoke(quiz, "--cards", str(CARDS), "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["counts"]["due"] == 0 and d["counts"]["new_in_queue"] == 8
    assert [c["id"] for c in d["queue"]][:2] == ["squeeze-dim-1", "arange-dtype"]
    assert d["db"] == env["TNQUIZ_DB"] and d["now"] == NOW
    r = _invoke(quiz, "--cards", str(CARDS), "--json", "--deck", "PyTorch::Tensors::Shapes",
                "--tag", "cat", "--new", "5")
    assert [c["id"] for c in json.loads(r.output)["queue"]] == ["cat-which-dim"]
    r = _invoke(quiz, "--cards", str(CARDS), "--json", "--limit", "3", "--new", "2")
    assert len(json.loads(r.output)["queue"]) == 2


def test_quiz_json_after_reviews(env: dict[str, str]) -> None:
    db = Path(env["TNQUIZ_DB"])
    _rate(db, "squeeze-dim-1", Rating.Easy, T0 - timedelta(days=10), answer_hash="stale")
    hashes = {c["id"]: c["answer_hash"] for c in json.loads(CARDS.read_text())["cards"]}
    _rate(db, "arange-dtype", Rating.Good, T0 - timedelta(hours=1),  # new today, due in 10m
          answer_hash=hashes["arange-dtype"])
    _rate(db, "gone-from-deck", Rating.Easy, T0 - timedelta(days=30))
    r = _invoke(quiz, "--cards", str(CARDS), "--json", "--new", "3")
    d = json.loads(r.output)
    assert d["counts"]["due"] == 2 and d["counts"]["new_today"] == 1
    assert d["counts"]["hidden"] == 1
    assert [(c["id"], c["new"], c["answer_changed"]) for c in d["queue"]] == [
        ("squeeze-dim-1", False, True),  # the verified answer changed since that review
        ("arange-dtype", False, False),
        ("view-noncontiguous", True, False),
        ("stack-shape-choice", True, False),
    ]


def test_one_line_user_errors(env: dict[str, str], tmp_path: Path) -> None:
    r = CliRunner().invoke(quiz, ["--cards", str(tmp_path / "build" / "cards.json")])
    assert r.exit_code == 1
    assert "run `tnquiz build` first" in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    r = CliRunner().invoke(quiz, ["--cards", str(CARDS)], input="")  # stdin is not a terminal
    assert r.exit_code == 1 and "stdin is not a terminal" in r.output and "--json" in r.output
    r = CliRunner().invoke(quiz, ["--cards", str(CARDS), "--deck", "Nope", "--json"])
    assert r.exit_code == 1 and "no card matches --deck Nope" in r.output
    r = CliRunner().invoke(quiz, ["--cards", str(CARDS), "--json"], env={"TNQUIZ_NOW": "tomorrow"})
    assert r.exit_code == 1 and "not an ISO timestamp" in r.output
    build = tmp_path / "build"
    build.mkdir()
    (build / "cards.json").write_text(CARDS.read_text())
    r = CliRunner().invoke(quiz, ["--cards", str(build / "cards.json"), "--db", str(build / "r.db"), "--json"])
    assert r.exit_code == 1 and "put it elsewhere" in r.output
    bad_db = tmp_path / "bad.db"
    bad_db.write_text("not a database" * 100)
    r = CliRunner().invoke(quiz, ["--cards", str(CARDS), "--db", str(bad_db), "--json"])
    assert r.exit_code == 1 and "cannot use the review database" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_stats_table_and_json(env: dict[str, str]) -> None:
    db = Path(env["TNQUIZ_DB"])
    r = _invoke(stats, "--cards", str(CARDS))
    assert r.exit_code == 0 and "no review database yet" in r.output
    assert not db.exists()  # stats never creates the database
    _rate(db, "squeeze-dim-1", Rating.Easy, T0 - timedelta(days=8))
    _rate(db, "squeeze-dim-1", Rating.Good, T0 - timedelta(hours=2))  # a review-state review, recalled
    _rate(db, "arange-dtype", Rating.Easy, T0 - timedelta(days=20))
    _rate(db, "arange-dtype", Rating.Again, T0 - timedelta(hours=1))  # a lapse
    r = _invoke(stats, "--cards", str(CARDS), "--json")
    d = json.loads(r.output)
    assert d["reviews"]["total"] == 4 and d["reviews"]["retention_30d"] == 0.5
    today = next(x for x in d["per_day"] if x["date"] == "2025-03-01")
    assert today == {"date": "2025-03-01", "reviews": 2, "again": 1, "mature": 2, "retention": 0.5}
    assert len(d["per_day"]) == 30
    assert d["due"]["today"] == 1  # arange-dtype relearning in 10m
    assert sum(x["due"] for x in d["due"]["next_7_days"]) == 0
    assert d["cards"] == {"quizzable": 8, "seen": 2, "new": 6, "hidden": 0}
    shapes = next(x for x in d["decks"] if x["deck"] == "PyTorch::Tensors::Shapes")
    assert shapes["seen"] == 1 and shapes["reviews_30d"] == 2 and shapes["retention_30d"] == 1.0
    r = _invoke(stats, "--cards", str(CARDS))
    assert "Due today: 1" in r.output and "2025-03-01" in r.output and "PyTorch::Tensors::Dtypes" in r.output
    assert "Reviews: 4 in all, 4 in the last 30 days: 3 of 4 not rated Again (75%); retention n/a: " \
           "fewer than 5 reviews of learned cards (2 so far; reviews in learning steps do not count)" in r.output
    assert d["total"]["reviews_30d"] == 4 and d["total"]["cards"] == 8
    total = next(line for line in r.output.splitlines() if line.strip().startswith("Total"))
    assert total.split() == ["Total", "8", "2", "6", "1", "1", "4", "n/a"]
    # five reviews of learned cards: a retention figure
    for k in range(3):
        _rate(db, "squeeze-dim-1", Rating.Good, T0 + timedelta(days=40 * (k + 1)))
    later = (T0 + timedelta(days=121)).isoformat()
    d = json.loads(CliRunner().invoke(stats, ["--cards", str(CARDS), "--json"], env={"TNQUIZ_NOW": later}).output)
    assert d["reviews"]["mature_30d"] == 1  # only one within the last 30 days
    r = CliRunner().invoke(stats, ["--cards", str(CARDS)], env={"TNQUIZ_NOW": later})
    assert "retention n/a: fewer than 5 reviews of learned cards (1 so far" in r.output


def test_stats_retention_figure_from_five_reviews_of_learned_cards(env: dict[str, str]) -> None:
    db = Path(env["TNQUIZ_DB"])
    ids = ["squeeze-dim-1", "arange-dtype", "sum-value", "view-noncontiguous", "eye-tensor"]
    for cid in ids:
        _rate(db, cid, Rating.Easy, T0 - timedelta(days=20))  # learned at once: FSRS review state
    for k, cid in enumerate(ids):
        _rate(db, cid, Rating.Again if k == 0 else Rating.Good, T0 - timedelta(hours=1))
    d = json.loads(_invoke(stats, "--cards", str(CARDS), "--json").output)
    assert (d["reviews"]["mature_30d"], d["reviews"]["retention_30d"]) == (5, 0.8)
    out = _invoke(stats, "--cards", str(CARDS)).output
    assert "Reviews: 10 in all, 10 in the last 30 days: 9 of 10 not rated Again (90%); retention 80% " \
           "(of 5 reviews of learned cards)" in out
    total = next(line for line in out.splitlines() if line.strip().startswith("Total"))
    assert total.split()[-1] == "80%"


def _run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *code.split()], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def test_quiz_and_stats_never_import_torch(env: dict[str, str]) -> None:
    """The hard rule: reading cards.json must not pull in torch, the runner or the worker."""
    for args in (f"-X importtime -m generator quiz --json --cards {CARDS}",
                 f"-X importtime -m generator stats --cards {CARDS}"):
        p = _run(args, env)
        assert p.returncode == 0, p.stderr
        mods = [line.split("|")[-1].strip() for line in p.stderr.splitlines() if line.startswith("import time")]
        assert "generator.quiz.session" in mods or "generator.quiz.stats" in mods
        heavy = [m for m in mods if m.split(".")[0] in ("torch", "numpy", "genanki", "jinja2")
                 or m in ("generator.execute.runner", "generator.execute.worker", "generator.api")]
        assert heavy == [], heavy
    # the interactive path too (ui, rich): import everything and look at sys.modules
    probe = ("import sys, generator.cli, generator.quiz.cli, generator.quiz.ui, generator.quiz.stats, "
             "generator.quiz.session, generator.quiz.store, generator.quiz.scheduler; "
             "bad = [m for m in sys.modules if m.split('.')[0] == 'torch' or m in "
             "('generator.execute.runner', 'generator.execute.worker')]; print(bad)")
    p = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"


def test_stats_without_a_built_deck_counts_the_db(env: dict[str, str], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    db = Path(env["TNQUIZ_DB"])
    _rate(db, "only-in-db", Rating.Easy, T0 - timedelta(days=9))
    monkeypatch.chdir(tmp_path)  # no build/cards.json here
    r = _invoke(stats)
    assert r.exit_code == 0
    assert "every card in the database is counted" in r.output and "Due today: 1" in r.output
    r = CliRunner().invoke(stats, ["--cards", str(tmp_path / "missing.json")])
    assert r.exit_code == 1 and "run `tnquiz build` first" in r.output


def test_stats_per_deck_removed_and_other_decks(env: dict[str, str]) -> None:
    db = Path(env["TNQUIZ_DB"])
    with Store(db) as store:
        for cid, deck in (("old", "PyTorch::Old"), ("mine-1", "Mine::Basics"), ("mine-2", "Mine")):
            o = outcomes(make_scheduler(fuzz=False), new_card(cid, T0), T0)[Rating.Good]
            store.record(cid, before=None, after=o.card, log=o.log, deck=deck, answer_hash="h")
    d = json.loads(_invoke(stats, "--cards", str(CARDS), "--json").output)
    # a card of this deck (root PyTorch) that left it is "removed"; another deck's cards are not
    assert d["cards"]["hidden"] == 1 and d["due"]["today"] == 0
    assert d["root_decks"] == ["PyTorch"]
    old = next(x for x in d["decks"] if x["deck"] == "PyTorch::Old")
    assert old["in_deck"] is False and old["reviews_30d"] == 1
    assert not [x for x in d["decks"] if x["deck"].startswith("Mine")]
    assert d["other_decks"] == [{"deck": "Mine", "cards_seen": 2, "reviews": 2, "reviews_30d": 2}]
    assert d["reviews"]["total"] == 1 and d["total"]["reviews_30d"] == 1
    out = _invoke(stats, "--cards", str(CARDS)).output
    assert "PyTorch::Old (removed)" in out and "Mine (removed)" not in out
    assert "Other decks in this review database" in out
    assert [line.split() for line in out.splitlines() if line.startswith("  Mine")] == [["Mine", "2", "2", "2"]]
    assert "(1 with history no longer in the deck, hidden)" in out


def test_new_card_limit_is_per_deck(env: dict[str, str], tmp_path: Path) -> None:
    """Two decks share one database: new cards started today in one do not use up the other's."""
    data = json.loads(CARDS.read_text())
    for c in data["cards"]:
        c["deck"] = c["deck"].replace("PyTorch", "Mine", 1)
        c["id"] = "mine-" + c["id"]
    mine = tmp_path / "mine" / "cards.json"
    mine.parent.mkdir()
    mine.write_text(json.dumps(data))
    db = Path(env["TNQUIZ_DB"])
    for cid in ("squeeze-dim-1", "arange-dtype", "sum-value"):
        _rate(db, cid, Rating.Good, T0 - timedelta(hours=1))
    theirs = json.loads(_invoke(quiz, str(CARDS), "--json", "--new", "3").output)["counts"]
    assert (theirs["new_today"], theirs["new_in_queue"]) == (3, 0)
    ours = json.loads(_invoke(quiz, str(mine.parent), "--json", "--new", "3").output)["counts"]
    assert (ours["new_today"], ours["new_in_queue"], ours["hidden"]) == (0, 3, 0)
    assert ours["new_today_by_deck"] == {"Mine": 0}
    # one cards.json with both decks: each gets its own limit
    both = tmp_path / "both.json"
    both.write_text(json.dumps({**data, "cards": data["cards"] + json.loads(CARDS.read_text())["cards"]}))
    counts = json.loads(_invoke(quiz, str(both), "--json", "--new", "3").output)["counts"]
    assert counts["new_today_by_deck"] == {"Mine": 0, "PyTorch": 3} and counts["new_in_queue"] == 3
    st = json.loads(_invoke(stats, str(mine.parent), "--json").output)
    assert st["cards"]["hidden"] == 0 and st["reviews"]["total"] == 0
    assert st["other_decks"] == [{"deck": "PyTorch", "cards_seen": 3, "reviews": 3, "reviews_30d": 3}]
