"""Equivalent cloze answers (generator/cloze.py): the build runs every plausible other filling of a
blank through the real runner (real torch, cached), records those with the card's live result in
``cloze_equivalents``, and the Python grading the terminal quiz uses accepts exactly those."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generator.api import check, load
from generator.cloze import LEFT_OUT, cloze_variants
from generator.execute.cache import Cache
from generator.execute.runner import lookup
from generator.model import BuiltCard, Deck
from generator.quiz.session import DeckError, grade_typed, load_deck

DECK = """\
deck: Cloze::Equivalents
cards:
  - id: cat-2d
    question: Fill in the blank so that `z` has the shape shown.
    setup: x = torch.zeros(2, 2); y = torch.ones(2, 2)
    code: z = torch.cat([x, y], dim=1)
    cloze: dim=1
    answer: z.shape
  - id: cat-3d
    question: Fill in the blank so that `z` has the shape shown.
    setup: x = torch.zeros(2, 3, 4)
    code: z = torch.cat([x, x], dim=1)
    cloze: dim=1
    answer: z.shape
  - id: no-grad
    question: Fill in the blank so that no graph is recorded.
    setup: net = nn.Linear(2, 1)
    code: |
      with torch.no_grad():
          out = net(torch.rand(3, 2))
    cloze: torch.no_grad()
    answer: out.requires_grad
  - id: sum-dtype
    question: Fill in the blank so that the sum has the dtype shown.
    setup: x = torch.ones(3)
    code: s = torch.sum(x, dtype=torch.float32)
    cloze: dtype=torch.float32
    answer: s.dtype
  - id: plain
    question: What is the shape?
    code: z = torch.zeros(2, 3)
    answer: z.shape
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cloze")
    (d / "cloze.yaml").write_text(DECK, encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def built(folder: Path) -> dict[str, BuiltCard]:
    report = check([folder], cache=Cache(), jobs=1)
    assert report.exit_code == 0, report.failures
    return {c.id: c for c in report.cards}


def test_only_fillings_with_the_same_live_result_are_recorded(built: dict[str, BuiltCard]) -> None:
    assert built["cat-2d"].cloze_equivalents == ("dim=-1",)  # dim=0 and dim=-2 join the rows instead
    assert built["cat-3d"].cloze_equivalents == ("dim=-2",)  # dim=-1 is the last axis: (2, 3, 8)
    assert built["no-grad"].cloze_equivalents == ("torch.inference_mode()",)  # not enable_grad()
    assert built["sum-dtype"].cloze_equivalents == ()  # float64 differs; leaving it out is not typed
    assert built["plain"].cloze_equivalents == ()


@pytest.mark.parametrize(("card_id", "typed", "right"), [
    ("cat-2d", "dim=1", True),
    ("cat-2d", "dim=-1", True),
    ("cat-2d", "dim = -1", True),
    ("cat-2d", "dim=0", False),  # a wrong answer stays wrong
    ("cat-2d", "dim=-2", False),  # the other axis of a 2-D tensor: a different result
    ("cat-3d", "dim=-2", True),
    ("cat-3d", "dim=-1", False),  # an equivalent on 2-D, a different result here
    ("no-grad", "torch.inference_mode()", True),
    ("no-grad", "torch.enable_grad()", False),
    ("sum-dtype", "dtype=torch.float64", False),
    ("sum-dtype", "", False),
])
def test_the_quiz_grading_accepts_exactly_the_recorded_equivalents(
        built: dict[str, BuiltCard], card_id: str, typed: str, right: bool) -> None:
    verdict = grade_typed(built[card_id], typed)
    assert verdict.correct is right
    assert verdict.expected == built[card_id].card.cloze  # what the learner is shown as the answer


def test_alternatives_are_cached_runs_keyed_by_their_own_code(folder: Path, built: dict[str, BuiltCard]) -> None:
    cache = Cache()
    for card in load([folder]).cards:
        for alt, variant in cloze_variants(card):
            assert alt != LEFT_OUT  # the build never runs the left-out keyword
            hit = lookup(variant, cache)
            assert hit is not None and hit.result is not None, (card.id, alt)
    totals: list[int] = []
    done: list[Any] = []
    again = check([folder], cache=cache, on_total=totals.append, on_done=done.append)
    assert again.ran == 0  # nothing ran: cards and alternatives all came from the cache
    runs = 5 + sum(len(cloze_variants(c)) for c in load([folder]).cards)
    assert totals == [runs] and len(done) == runs  # the progress counts every run
    assert {c.id: c.cloze_equivalents for c in again.cards} == {i: b.cloze_equivalents for i, b in built.items()}


def test_equivalents_round_trip_and_are_validated_on_read(built: dict[str, BuiltCard], tmp_path: Path) -> None:
    deck = Deck(cards=tuple(built.values()), generator="t", torch_version="t")
    data = json.loads(json.dumps(deck.to_dict()))
    by_id = {c["id"]: c for c in data["cards"]}
    assert by_id["cat-2d"]["cloze_equivalents"] == ["dim=-1"]
    assert by_id["sum-dtype"]["cloze_equivalents"] == []
    assert "cloze_equivalents" not in by_id["plain"]  # cloze cards only
    back = Deck.from_dict(data)
    assert {c.id: c.cloze_equivalents for c in back.cards} == {i: b.cloze_equivalents for i, b in built.items()}
    assert Deck.from_dict(back.to_dict()).to_dict() == data

    for bad, why in (([1], "list of non-empty texts"), ("dim=-1", "list of non-empty texts"),
                     ([" "], "list of non-empty texts")):
        broken = json.loads(json.dumps(data))
        broken["cards"][0]["cloze_equivalents"] = bad
        with pytest.raises(ValueError, match=why):
            Deck.from_dict(broken)
    broken = json.loads(json.dumps(data))
    plain = next(c for c in broken["cards"] if c["id"] == "plain")
    plain["cloze_equivalents"] = ["dim=-1"]
    with pytest.raises(ValueError, match="'plain': cloze_equivalents given, but the card has no cloze"):
        Deck.from_dict(broken)
    path = tmp_path / "cards.json"
    path.write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(DeckError, match=r"is not a tnquiz cards\.json \(card 'plain': cloze_equivalents"):
        load_deck(path)



def test_an_alternative_tnquiz_could_not_run_makes_the_card_a_tnquiz_error(
        folder: Path, built: dict[str, BuiltCard]) -> None:
    """The recorded equivalents never depend on a failure of tnquiz's own machinery (never cached):
    the card is an `error` (the build writes nothing; run it again), not quietly without them."""
    from dataclasses import replace

    from generator.api import _verified
    from generator.model import Outcome

    card = next(c for c in load([folder]).cards if c.id == "cat-2d")
    original = lookup(card, Cache())
    assert original is not None
    alternatives = [(alt, lookup(variant, Cache())) for alt, variant in cloze_variants(card)]
    assert all(oc is not None for _, oc in alternatives)
    fine = [(alt, oc) for alt, oc in alternatives if oc is not None]
    assert _verified(original, fine).cloze_equivalents == ("dim=-1",)
    lost = [(alt, Outcome(oc.card, oc.device, machinery="the worker's reply could not be trusted"))
            if alt == "dim=2" else (alt, oc) for alt, oc in fine]
    verdict = _verified(original, lost)
    assert verdict.status == "error" and verdict.cloze_equivalents == ()
    assert verdict.reason == "the alternative `dim=2` of its blank: the worker's reply could not be trusted"
    # a card that failed by itself stays failed: its alternatives say nothing
    assert _verified(replace(original, result=None, failed="timed out"), lost).status == "failed"
