"""Which deck `tnquiz quiz` / `tnquiz stats` read: a built folder or cards.json as an argument, the
last deck built or used, ./build/cards.json; and the one-line errors with a hint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.quiz.cli import quiz, stats
from generator.quiz.decks import last_deck, remember_deck, state_path

CARDS = Path(__file__).parent / "data" / "quiz_cards.json"
NOW = "2025-03-01T09:00:00+00:00"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    e = {"TNQUIZ_DB": str(tmp_path / "data" / "reviews.sqlite3"), "TNQUIZ_NOW": NOW}
    for k, v in e.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    return e


def _built(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(CARDS, folder / "cards.json")
    return folder


def _run(cmd: Any, *args: str) -> Any:
    return CliRunner().invoke(cmd, list(args))


def _quiz_json(*args: str) -> dict[str, Any]:
    r = _run(quiz, *args, "--json")
    assert r.exit_code == 0, r.output
    out: dict[str, Any] = json.loads(r.output)
    return out


def test_a_built_folder_or_its_cards_json_as_argument(env: dict[str, str], tmp_path: Path) -> None:
    deck = _built(tmp_path / "mydeck")
    for arg in (str(deck), str(deck) + "/", str(deck / "cards.json")):
        d = _quiz_json(arg)
        assert d["cards_file"] == str(deck / "cards.json") and d["cards_file_why"] == "given"
        assert d["counts"]["new_in_queue"] == 8
    d = _quiz_json("--cards", str(deck))  # --cards keeps working, and takes a folder too
    assert d["cards_file"] == str(deck / "cards.json")
    r = _run(stats, str(deck))
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == f"Deck: {deck / 'cards.json'} (given)"


def test_the_last_deck_used_or_built_is_remembered(env: dict[str, str], tmp_path: Path) -> None:
    a, b = _built(tmp_path / "a"), _built(tmp_path / "b")
    _built(tmp_path / "build")  # ./build/cards.json: only used while nothing is remembered
    d = _quiz_json()
    assert d["cards_file"] == "build/cards.json" and d["cards_file_why"].startswith("in this folder")
    _quiz_json(str(a))
    d = _quiz_json()
    assert d["cards_file"] == str(a / "cards.json")
    assert d["cards_file_why"] == "the last deck used; `tnquiz quiz FOLDER` picks another"
    remember_deck(b / "cards.json", [tmp_path / "src"])  # what `tnquiz build src/ --out b/` records
    assert last_deck() is not None
    d = _quiz_json()
    assert d["cards_file"] == str(b / "cards.json")
    assert d["cards_file_why"] == "the last deck built; `tnquiz quiz FOLDER` picks another"
    r = _run(stats)
    assert r.output.splitlines()[0] == (
        f"Deck: {b / 'cards.json'} (the last deck built; `tnquiz stats FOLDER` picks another)")
    # the card folder a deck was built from names that deck
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "mine.yaml").write_text("cards: []\n")
    d = _quiz_json(str(tmp_path / "src"))
    assert d["cards_file"] == str(b / "cards.json")
    assert d["cards_file_why"] == f"built from {tmp_path / 'src'} by the last `tnquiz build`"
    # the remembered deck was deleted: back to ./build/cards.json
    shutil.rmtree(b)
    assert _quiz_json()["cards_file"] == "build/cards.json"


def test_a_damaged_state_file_is_ignored_with_a_warning(env: dict[str, str], tmp_path: Path) -> None:
    _built(tmp_path / "build")
    state_path().parent.mkdir(parents=True, exist_ok=True)
    for bad in (b"\xff\xfe", b"[1, 2]", b'{"cards": 3}', b'{"cards": "x", "by": "evil"}'):
        state_path().write_bytes(bad)
        r = CliRunner().invoke(quiz, ["--json"])
        assert r.exit_code == 0, r.output
        assert r.stderr.count(f"tnquiz: warning: {state_path()} is not a last-deck file") == 1
        assert json.loads(r.stdout)["cards_file"] == "build/cards.json"
        assert "Traceback" not in r.output


def test_remember_deck_never_fails_the_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")  # the data dir cannot be created, even by root
    monkeypatch.setenv("TNQUIZ_DB", str(blocker / "reviews.sqlite3"))
    remember_deck(tmp_path / "build" / "cards.json")
    err = capsys.readouterr().err
    assert err.startswith(f"tnquiz: warning: cannot record the last deck in {blocker / 'last-deck.json'}: ")
    assert len(err.splitlines()) == 1 and last_deck() is None


def test_deck_errors_are_one_line_with_a_hint(env: dict[str, str], tmp_path: Path) -> None:
    cases = {
        (): "Error: no built deck here (build/cards.json is missing) and none remembered: run `tnquiz "
            "build` first (`tnquiz build mycards/ --out mydeck/`), then `tnquiz quiz` or "
            "`tnquiz quiz mydeck/`",
        ("nope",): "Error: no such file or folder: nope; pass a folder written by `tnquiz build` (it "
                   "holds cards.json) or that cards.json, e.g. `tnquiz quiz build/` (run `tnquiz "
                   "build` first)",
        ("empty",): "Error: no cards.json in empty: pass a folder written by `tnquiz build` (it holds "
                    "cards.json) or that cards.json, e.g. `tnquiz quiz build/`",
        ("mycards",): "Error: mycards holds card files (*.yaml), not a built deck: build it first with "
                      "`tnquiz build mycards --out DIR`, then `tnquiz quiz DIR`",
        ("mycards/a.yaml",): "Error: mycards/a.yaml is a card file, not a built deck: build it first "
                             "with `tnquiz build mycards/a.yaml --out DIR`, then `tnquiz quiz DIR`",
        ("a", "--cards", "b"): "Error: two decks given (a and --cards b): name the deck once, e.g. "
                               "`tnquiz quiz a`",
    }
    (tmp_path / "empty").mkdir()
    (tmp_path / "mycards").mkdir()
    (tmp_path / "mycards" / "a.yaml").write_text("cards: []\n")
    for args, message in cases.items():
        r = _run(quiz, *args, "--json")
        assert r.exit_code == 1, (args, r.output)
        assert r.output.strip().splitlines() == [message], args
    r = _run(stats, "mycards")
    assert r.exit_code == 1 and "then `tnquiz stats DIR`" in r.output
    assert not state_path().exists()  # nothing usable was named: nothing remembered
