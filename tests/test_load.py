"""The card format: what loads, and every problem reported with file, line, id, expected and found."""

from __future__ import annotations

from pathlib import Path

from generator.load import load


def problems_of(path: Path) -> list[str]:
    return [str(p) for p in load([path]).problems]


def test_a_valid_file_loads_with_defaults_tags_and_lines(write_cards) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("""\
deck: "PyTorch :: Tensors"
tags: [tensors]
defaults:
  seed: 7
  source: notes.md
cards:
  - id: one
    question: What is `x`?
    setup: |
      x = torch.zeros(2)
    code: |
      y = x + 1
    answer: y.shape
    tags: [extra, tensors]
""")
    result = load([p])
    assert result.problems == ()
    (card,) = result.cards
    assert card.deck == "PyTorch::Tensors"
    assert card.tags == ("tensors", "extra")
    assert card.seed == 7 and card.source == "notes.md"
    assert card.line == 7 and card.setup_line == 10 and card.code_line == 12
    assert card.kind == ""  # inferred from the live answer later


def test_every_problem_is_reported_at_once_with_location(write_cards) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("""\
deck: D
cards:
  - id: good
    question: q
    answer: "1"
  - id: Bad Id
    question: q
    answer: "1"
  - id: two-answers
    question: q
    answer: "1"
    raises: ValueError
  - id: typo
    question: q
    anwser: "1"
  - id: syntax
    question: q
    code: |
      x = (1,
    answer: x
  - id: bad-device
    question: q
    answer: "1"
    device: gpu
""")
    probs = problems_of(p)
    name = str(p)
    assert f"{name}:6 [Bad Id]: `id`: expected lowercase letters, digits, `-`, `_` or `.` (starting with a letter or digit), found 'Bad Id'" in probs
    assert f"{name}:12 [two-answers]: expected exactly one of `answer`, `raises`, `output`, found `answer` and `raises`" in probs
    assert f"{name}:15 [typo]: unknown field `anwser` (did you mean `answer`?)" in probs
    assert any(s.startswith(f"{name}:19 [syntax]: `code`: expected valid Python, found a SyntaxError") for s in probs)
    assert f"{name}:24 [bad-device]: `device`: expected one of cpu, cuda, auto, found 'gpu' (did you mean `cpu`?)" in probs
    assert [c.id for c in load([p]).cards] == ["good"]  # one bad card fails alone


def test_duplicate_ids_name_both_places(write_cards) -> None:  # type: ignore[no-untyped-def]
    a = write_cards("deck: A\ncards:\n  - id: same\n    question: q\n    answer: '1'\n", "a.yaml")
    b = write_cards("deck: B\ncards:\n  - {id: other, question: q, answer: '2'}\n  - id: same\n    question: q\n    answer: '1'\n", "b.yaml")
    result = load([a, b])
    assert [str(p) for p in result.problems] == [
        f"{b}:4 [same]: duplicate id: expected ids unique across all files, found `same` also at {a}:3"]
    assert [c.id for c in result.cards] == ["same", "other"]


def test_file_level_errors(write_cards) -> None:  # type: ignore[no-untyped-def]
    assert problems_of(write_cards("cards: []\n")) == [
        f"{write_cards('cards: []')}:1: missing `deck`: expected a deck name such as `PyTorch::Tensors::Shapes`"]
    p = write_cards("deck: D\ncard: []\n")
    assert problems_of(p) == [
        f"{p}:2: unknown file field `card` (did you mean `cards`?); expected one of: deck, tags, defaults, cards",
        f"{p}:1: missing `cards`: expected a list of cards"]
    p = write_cards("deck: D\ncards: [\n")
    (msg,) = problems_of(p)
    assert msg.startswith(f"{p}:3: invalid YAML")


def test_yaml_is_loaded_safely(write_cards) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("deck: D\ncards:\n  - id: x\n    question: !!python/object/apply:os.system ['echo hi']\n    answer: '1'\n")
    assert problems_of(p) == [f"{p}:4: invalid YAML value: unsupported tag 'tag:yaml.org,2002:python/object/apply:os.system'"]


def test_params_expand_every_combination(write_cards) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("""\
deck: D
cards:
  - id: cat-{a}-{d}
    params: {a: [x, y], d: [0, 1]}
    question: cat {a} on dim {d}
    setup: "x = torch.zeros(2, 3); y = torch.zeros(2, 3)"
    answer: torch.cat([{a}, {a}], dim={d}).shape
    choices: ["torch.stack([{a}, {a}], dim={d}).shape"]
""")
    cards = load([p]).cards
    assert [c.id for c in cards] == ["cat-x-0", "cat-x-1", "cat-y-0", "cat-y-1"]
    assert cards[1].answer == "torch.cat([x, x], dim=1).shape"
    assert cards[1].choices == ("torch.stack([x, x], dim=1).shape",)
    assert cards[3].question == "cat y on dim 1"


def test_params_need_a_placeholder_in_the_id(write_cards) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("deck: D\ncards:\n  - id: same\n    params: {d: [0, 1]}\n    question: q\n    answer: '{d}'\n")
    assert problems_of(p) == [
        f"{p}:3 [same]: `params`: expected `id` to use a placeholder ({{d}}) so every expansion has its own id, found 'same'"]


def test_cloze_must_occur_once_and_kind_must_fit(write_cards) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("""\
deck: D
cards:
  - id: c
    question: q
    code: "z = torch.cat([x, x], dim=1)"
    cloze: x
    answer: z.shape
  - id: k
    question: q
    answer: "1"
    kind: error
""")
    assert problems_of(p) == [
        f"{p}:6 [c]: `cloze`: expected 'x' to occur exactly once in `code`, found it 2 times",
        f"{p}:11 [k]: `kind: error` expected `raises` on the card, found none"]


def test_bundled_deck_loads_cleanly_and_every_card_has_a_source() -> None:
    from generator.api import load as load_paths

    result = load_paths([])
    assert result.problems == ()
    assert len(result.cards) >= 200
    assert [c.id for c in result.cards if not c.source] == []
