"""The bundled deck: every claim in it still holds for the installed torch, it builds, and it keeps the
rules of docs/deck-style.md."""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from generator.load import load
from generator.model import Card
from generator.sources import read_table
from tests.conftest import ROOT, Built


@pytest.mark.slow
def test_bundled_deck_checks_and_builds_with_no_unexpected_failure(bundled_deck: Built) -> None:
    checked = bundled_deck.checked  # `tnquiz check`, then `tnquiz build` from that cache
    assert checked is not None
    assert checked.returncode == 0, checked.stdout[-5000:] + checked.stderr[-2000:]
    out, built = bundled_deck.out, bundled_deck.built
    assert built.returncode == 0, built.stderr[-3000:]
    (summary,) = [line for line in built.stderr.splitlines() if line.endswith(" from cache")]
    assert "; 0 run, " in summary and "failed" not in summary and "contradicted" not in summary
    cards = json.loads((out / "cards.json").read_text())["cards"]
    assert len(cards) >= 200
    assert [c["id"] for c in cards if not c["source"]] == []
    assert [c["id"] for c in cards if not c["tags"]] == []
    assert [c["id"] for c in cards if not c["explain"].strip()] == []  # the back says why
    statuses = Counter(c["status"] for c in cards)
    assert statuses["failed"] == 0
    skipped = {c["reason"].split(":")[0] for c in cards if c["status"] == "skipped"}
    assert skipped <= {"requires cuda", "requires torchvision", "requires numpy"}
    kinds = Counter(c["kind"] for c in cards if c["status"] == "ok")
    assert set(kinds) == {"shape", "value", "dtype", "error", "output", "choice", "cloze", "exercise"}
    exercises = [c for c in cards if c["kind"] == "exercise"]
    assert len(exercises) >= 40 and {c["deck"] for c in exercises} == {"PyTorch::Exercises"}
    assert [c["id"] for c in exercises if not c["spec"]["variants"]] == []
    assert all(c["deck"].startswith("PyTorch::") for c in cards)


# ---------------------------------------------------------------- deck rules checked without running
# The rules are written down in docs/deck-style.md (deck tree, tag vocabulary, limits) and
# cards/sources.conf (note files and sections); these tests read them from there.

CARDS = ROOT / "cards"
STYLE = ROOT / "docs" / "deck-style.md"
TAG_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
BOOL_CALLS = {"isinstance", "issubclass", "bool", "all", "any", "callable", "hasattr"}
BOOL_METHODS = {"equal", "allclose", "is_pinned", "is_contiguous", "is_floating_point", "is_tensor"}
BOOL_ATTRS = {"requires_grad", "training", "is_leaf", "inplace", "is_cuda"}


@pytest.fixture(scope="module")
def deck() -> list[Card]:
    result = load(sorted(CARDS.glob("*.yaml")), root=ROOT)
    assert result.problems == ()
    return list(result.cards)


def _section(doc: Path, heading: str) -> str:
    text = doc.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def _documented_decks() -> dict[str, str]:
    """file name -> deck, from the deck tree table of docs/deck-style.md."""
    rows = re.findall(r"^\| `(PyTorch::[^`]+)` \| `([a-z0-9-]+\.yaml)`", _section(STYLE, "Deck tree"), re.M)
    return {file: deck for deck, file in rows}


def _vocabulary() -> set[str]:
    words = re.findall(r"`([^`]+)`", _section(STYLE, "Tag vocabulary"))
    return {w for w in words if TAG_RE.match(w)}


def _is_bool_shaped(expr: str | None) -> bool:
    """True where an answer expression can only be a bool, judged from its syntax."""
    if not expr:
        return False
    node = ast.parse(expr, mode="eval").body
    if isinstance(node, ast.Compare | ast.BoolOp) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
        return True
    if isinstance(node, ast.Call):
        f = node.func
        return (isinstance(f, ast.Name) and f.id in BOOL_CALLS) or (isinstance(f, ast.Attribute) and f.attr in BOOL_METHODS)
    return isinstance(node, ast.Attribute) and node.attr in BOOL_ATTRS


def _normalized(text: str) -> str:
    return re.sub(r"\s+", "", "\n".join(line.split("#")[0] for line in text.splitlines()))


def test_every_card_file_is_one_deck_of_the_documented_tree(deck: list[Card]) -> None:
    documented = _documented_decks()
    assert sorted(documented) == sorted(p.name for p in CARDS.glob("*.yaml"))
    assert len(set(documented.values())) == len(documented)  # no deck split over two files
    wrong = {(c.id, c.deck) for c in deck if documented[Path(c.file).name] != c.deck}
    assert wrong == set()


def test_tags_come_from_the_documented_vocabulary(deck: list[Card]) -> None:
    vocabulary = _vocabulary()
    assert {"note-error", "pitfall", "typo", "errors"} <= vocabulary
    assert not {"note-mistake", "trap"} & vocabulary
    unknown = {(c.id, t) for c in deck for t in c.tags if t not in vocabulary}
    assert unknown == set()
    unused = vocabulary - {t for c in deck for t in c.tags}
    assert unused == set()  # the list is the deck's vocabulary, not a wish list


def test_no_two_cards_run_the_same_code_for_the_same_answer(deck: list[Card]) -> None:
    seen: dict[str, str] = {}
    twins = []
    for c in deck:
        key = "|".join((_normalized(c.setup), _normalized(c.code + c.solution), _normalized(c.answer or ""),
                        c.raises or "", str(c.output)))
        if key in seen:
            twins.append((seen[key], c.id))
        seen[key] = c.id
    assert twins == []


def test_true_false_cards_are_few_balanced_and_state_their_answer(deck: list[Card]) -> None:
    unstated = [c.id for c in deck if _is_bool_shaped(c.answer) and not isinstance(c.expect, bool)]
    assert unstated == []  # a True/False card says which, so share and balance are checkable here
    answers = Counter(c.expect for c in deck if isinstance(c.expect, bool))
    total = answers[True] + answers[False]
    assert total <= 0.10 * len(deck), (total, len(deck))
    assert min(answers[True], answers[False]) >= 0.4 * total, answers


def test_cards_fit_a_phone_screen(deck: list[Card]) -> None:
    too_long = [(c.id, n) for c in deck for n, over in (
        ("code", len(c.code.splitlines()) > 12), ("setup", len(c.setup.splitlines()) > 8),
        ("question", len(c.question) > 300), ("explain", len(c.explain) > 400)) if over]
    assert too_long == []


def test_every_card_explains_and_cites_a_listed_note_section(deck: list[Card]) -> None:
    notes, problems = read_table(CARDS / "sources.conf", "cards/sources.conf")
    assert problems == [] and len(notes) == 5
    assert [c.id for c in deck if not c.explain.strip()] == []
    uncited = []
    for c in deck:
        parts = [p.strip().partition("#") for p in c.source.split(";")]
        if not c.source or any(f not in notes or s not in notes[f].sections for f, _, s in parts):
            uncited.append((c.id, c.source))
        elif dict(c.source_titles) != {f: notes[f].title for f, _, _ in parts}:  # what every output shows
            uncited.append((c.id, c.source_titles))
    assert uncited == []


def test_question_text_has_no_params_leftovers(deck: list[Card]) -> None:
    leftovers = re.compile(r"bool\(\d\)|\b\d+(?:-\d+){2,}\b|\{[a-z_]+\}")
    assert [(c.id, c.question) for c in deck if leftovers.search(c.question)] == []


def test_note_error_cards_name_the_note_they_correct(deck: list[Card]) -> None:
    names_note = re.compile(r"\b[Nn]otes?\b|\b00[0-4]\b")
    assert [c.id for c in deck if "note-error" in c.tags and not names_note.search(c.question)] == []
    assert [c.id for c in deck if "typo" in c.tags and "note-error" not in c.tags] == []


def test_only_cards_that_use_torchvision_require_it(deck: list[Card]) -> None:
    uses = re.compile(r"\btorchvision\b|\bfrom PIL\b|\bimport PIL\b")
    mismatched = [c.id for c in deck
                  if bool(uses.search(c.setup + c.code + (c.answer or ""))) != ("torchvision" in c.requires)]
    assert mismatched == []


def test_coverage_names_only_cards_that_exist(deck: list[Card]) -> None:
    ids = {c.id for c in deck}
    text = (ROOT / "docs" / "coverage.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([a-z0-9][a-z0-9.-]*-[a-z0-9.-]*)`", text))
    missing = {n for n in named if n not in ids and not n.endswith((".yaml", ".txt", ".md")) and n not in _vocabulary()}
    assert missing == set()
    files = set(re.findall(r"`(?:cards/)?([a-z0-9-]+\.yaml)`", text))
    assert {f for f in files if not (CARDS / f).is_file()} == set()
