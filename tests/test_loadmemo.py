"""The loader's memo (generator/loadmemo.py): an unchanged card file is not parsed again, and the
memo file, hostile like everything tnquiz reads, can only ever cost a parse, never change a card."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from generator.load import load
from generator.loadmemo import FORMAT, LoadMemo, _checksum, loader_fingerprint
from generator.paths import bundled_cards_dir

DECK = """\
deck: D
tags: [t]
cards:
  - id: one
    question: What is `y`?
    setup: |
      x = torch.zeros(2)
    code: |
      y = x + 1
    answer: y.shape
    expect: [2]
    choices: ["x.shape", "(x + 1).shape"]
  - id: "two-{k}"
    question: q
    code: "z = 1"
    answer: z
    params: {k: [1, 2]}
"""


def _no_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str) -> Any:
        raise AssertionError("the file was parsed again")
    monkeypatch.setattr(importlib.import_module("generator.load"), "compose", refuse)


def test_an_unchanged_file_comes_from_the_memo_and_a_changed_one_is_parsed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(DECK)
    memo = tmp_path / "cache" / "loaded.json"
    fresh = load([f])
    assert load([f], memo=memo) == fresh and memo.exists()
    with monkeypatch.context() as m:
        _no_parse(m)
        assert load([f], memo=memo) == fresh  # every card, field and line as parsed
        f.write_text(DECK.replace("z = 1", "z = 2"))
        with pytest.raises(AssertionError, match="parsed again"):
            load([f], memo=memo)
    assert load([f], memo=memo).cards[1].code == "z = 2"


def test_the_bundled_deck_round_trips_through_the_memo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundled = bundled_cards_dir()
    memo = tmp_path / "loaded.json"
    fresh = load([bundled], root=bundled.parent)
    assert load([bundled], root=bundled.parent, memo=memo) == fresh
    _no_parse(monkeypatch)
    assert load([bundled], root=bundled.parent, memo=memo) == fresh


def test_a_file_with_a_problem_is_never_kept(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(DECK.replace("question: q\n", "question: q\n    seed: -1\n"))
    memo = tmp_path / "loaded.json"
    first = load([f], memo=memo)
    assert first.problems
    assert not memo.exists() or json.loads(memo.read_text())["files"] == {}
    assert load([f], memo=memo).problems == first.problems


def test_a_name_shown_differently_is_a_miss(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(DECK)
    memo = tmp_path / "loaded.json"
    load([f], memo=memo)
    again = load([f], root=tmp_path, memo=memo)  # shown as `d.yaml`, not its full path
    assert {c.file for c in again.cards} == {"d.yaml"}


def _entry(memo: Path) -> tuple[dict[str, Any], str]:
    data = json.loads(memo.read_text())
    [key] = data["files"]
    return data, key


HOSTILE = {
    "not json": lambda data, key: "{not json",
    "a list": lambda data, key: "[]",
    "another format": lambda data, key: json.dumps({**data, "format": FORMAT + 1}),
    "another loader": lambda data, key: json.dumps({**data, "loader": "0" * 64}),
    "a wrong checksum": lambda data, key: json.dumps(_edit(data, key, "question", "FORGED", fix_sum=False)),
    "a wrong type, checksum fixed": lambda data, key: json.dumps(_edit(data, key, "line", "7")),
    "a missing field, checksum fixed": lambda data, key: json.dumps(_edit(data, key, "code", None, drop=True)),
    "an extra field, checksum fixed": lambda data, key: json.dumps(_edit(data, key, "evil", 1)),
    "a list where a tuple of text goes": lambda data, key: json.dumps(_edit(data, key, "tags", [1])),
    "cards not a list": lambda data, key: json.dumps({**data, "files": {key: {"sum": "x", "cards": {}}}}),
    "cards a JSON object, checksum fixed": lambda data, key: json.dumps(
        {**data, "files": {key: {"sum": _checksum(key, "{}"), "cards": "{}"}}}),
    "a bool where an int goes, checksum fixed": lambda data, key: json.dumps(_edit(data, key, "seed", True)),
}


def _edit(data: dict[str, Any], key: str, field: str, value: Any, *, fix_sum: bool = True,
          drop: bool = False) -> dict[str, Any]:
    cards = json.loads(data["files"][key]["cards"])
    if drop:
        del cards[0][field]
    else:
        cards[0][field] = value
    text = json.dumps(cards)
    entry = {"sum": _checksum(key, text) if fix_sum else data["files"][key]["sum"], "cards": text}
    return {**data, "files": {key: entry}}


@pytest.mark.parametrize("how", list(HOSTILE))
def test_a_hostile_memo_is_a_miss_never_a_card(tmp_path: Path, how: str) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(DECK)
    memo = tmp_path / "loaded.json"
    fresh = load([f], memo=memo)
    data, key = _entry(memo)
    memo.write_text(HOSTILE[how](data, key))
    assert load([f], memo=memo) == fresh
    assert LoadMemo(memo).get(key) is not None  # and the load wrote a good memo back


def test_the_memo_is_keyed_by_the_loader_too() -> None:
    assert len(loader_fingerprint()) == 64
    assert LoadMemo.key(b"x", "a.yaml") != LoadMemo.key(b"x", "b.yaml") != LoadMemo.key(b"y", "b.yaml")
