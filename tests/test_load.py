"""The card format: what loads, and every problem reported with file, line, id, expected and found."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from generator.fields import FIELDS
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
    assert problems_of(p) == [f"{p}:4 [x]: expected a plain value, found the unsupported tag 'tag:yaml.org,2002:python/object/apply:os.system'"]


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


# --- Input the loader trusts: every hostile file is one located message, in bounded time ---------

CARD = "  - id: a\n    question: q\n    answer: '1'\n"
BOMB = ("deck: D\ncards:\n  - id: a\n    question: q\n    answer: '1'\n    expect: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"    e{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)))


@pytest.mark.parametrize(("data", "expected"), [
    pytest.param(b"deck: D\ncards:\n" + CARD.encode() + b"cards:\n  - id: b\n    question: q\n    answer: '1'\n",
                 ["{p}:6: duplicate key `cards`: expected each key once in a mapping, found it at lines 2 and 6"], id="duplicate-file-key"),
    pytest.param(b"deck: D\ncards:\n" + CARD.encode() + b"    answer: '2'\n",
                 ["{p}:6 [a]: duplicate key `answer`: expected each key once in a mapping, found it at lines 5 and 6"], id="duplicate-card-key"),
    pytest.param(b"deck: D\ncards:\n  - id: a{x}\n    params: {x: [1], x: [2]}\n    question: q\n    answer: '1'\n",
                 ["{p}:4 [a{{x}}]: duplicate key `x`: expected each key once in a mapping, found it twice on line 4"], id="duplicate-nested-key"),
    pytest.param(BOMB.encode(),
                 ["{p}:9 [a]: expected aliases to add at most 10000 values to the file, found `*a2` going past that (an alias bomb?)",
                  *(f"{{p}}:{6 + i} [a]: unknown field `e{i}`" for i in range(1, 10))], id="billion-laughs"),
    pytest.param(b"deck: D\ncards: &c\n" + CARD.encode() + b"  - *c\n",
                 ["{p}:6: expected an alias to a finished value, found the recursive alias `*c`"], id="recursive-alias"),
    pytest.param(b"deck: *nope\ncards: []\n",
                 ["{p}:1: expected an alias to an anchor defined above, found `*nope`, which is not"], id="undefined-alias"),
    pytest.param(b"deck: D\ncards:\n" + CARD.encode() + b"    ? [a, b]\n    : c\n",
                 ["{p}:6 [a]: expected a plain key (a name), found a complex key (a list or mapping)"], id="complex-key"),
    pytest.param(b"deck: D\ncards:\n" + CARD.encode() + b"    seed: !!int notanumber\n",
                 ["{p}:6 [a]: expected a valid int, found 'notanumber'"], id="bad-int-tag"),
    pytest.param(b"deck: !!python/name:os.system D\ncards: []\n",
                 ["{p}:1: expected a plain value, found the unsupported tag 'tag:yaml.org,2002:python/name:os.system'"], id="python-tag"),
    pytest.param(b"deck: D\ncards:\n" + CARD.encode() + b"    expect: !!binary aGk=\n",
                 ["{p}:6 [a]: expected a plain value, found the unsupported tag 'tag:yaml.org,2002:binary'"], id="binary-tag"),
    pytest.param(b"deck: D\ncards:\n  - &base\n    id: a\n    question: q\n    answer: '1'\n  - <<: *base\n    id: b\n",
                 ["{p}:7 [b]: expected a field name, found a merge key `<<`; use `defaults:` for fields shared by the cards of a file"], id="merge-key"),
    pytest.param(b"deck: D\ncards:\n  - id: a\n    question: caf\xe9 ok\n    answer: '1'\n",
                 ["{p}:4: expected UTF-8 text, found the byte 0xe9 at column 18; save the file as UTF-8"], id="latin-1"),
    pytest.param("deck: D\n".encode("utf-16"),
                 ["{p}:1: expected UTF-8 text, found a UTF-16 (or UTF-32) byte order mark; save the file as UTF-8"], id="utf-16"),
    pytest.param(b"deck: D\ncards: !!set {a}\n",
                 ["{p}:2: expected a plain value, found the unsupported tag 'tag:yaml.org,2002:set'"], id="set-tag"),
    pytest.param(b"", ["{p}:1: expected a mapping with `deck` and `cards`, found an empty file"], id="empty"),
    pytest.param(b"# only a comment\n", ["{p}:1: expected a mapping with `deck` and `cards`, found an empty file"], id="comment-only"),
    pytest.param(b"- a\n- b\n", ["{p}:1: expected a mapping with `deck` and `cards`, found a list"], id="top-level-list"),
    pytest.param(b"hello\n", ["{p}:1: expected a mapping with `deck` and `cards`, found a string 'hello'"], id="top-level-scalar"),
    pytest.param(b"deck: D\ncards: []\n---\ndeck: E\n",
                 ["{p}:3: expected one YAML document, found a second one (`---`); put every card of a file under one `cards:`"], id="two-documents"),
    pytest.param(b"deck: D\x07\ncards: []\n",
                 ["{p}:1: invalid YAML at column 8: expected printable text, found the control character '\\x07'"], id="control-character"),
    pytest.param(b"deck: D\ncards:\n" + CARD.encode() + b"    expect: " + b"[" * 60 + b"]" * 60 + b"\n",
                 ["{p}:6: expected lists and mappings nested at most 50 deep, found deeper nesting"], id="deep-nesting"),
])
def test_hostile_yaml_is_one_located_problem(tmp_path: Path, data: bytes, expected: list[str]) -> None:
    p = tmp_path / "cards.yaml"
    p.write_bytes(data)
    start = time.perf_counter()
    result = load([p])
    assert time.perf_counter() - start < 5
    assert [str(x) for x in result.problems] == [e.format(p=p) for e in expected]


def test_a_problem_inside_one_card_fails_that_card_alone(write_cards) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("deck: D\ncards:\n  - id: a\n    question: q\n    answer: '1'\n    answer: '2'\n"
                    "  - id: b\n    question: q\n    seed: !!int x\n    answer: '1'\n  - id: c\n    question: q\n    answer: '1'\n")
    result = load([p])
    assert [c.id for c in result.cards] == ["c"]
    assert [(x.location.line, x.card_id) for x in result.problems] == [(6, "a"), (9, "b")]


def test_a_utf8_bom_is_accepted_and_lines_stay_right(tmp_path: Path) -> None:
    p = tmp_path / "cards.yaml"
    p.write_bytes(b"\xef\xbb\xbfdeck: D\ncards:\n  - id: a\n    question: q\n    answer: '1'\n")
    (card,) = load([p]).cards
    assert card.line == 3 and card.answer == "1"


def test_an_alias_within_the_budget_shares_a_value(write_cards) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("deck: D\ncards:\n  - id: a\n    question: q\n    setup: &xy x = torch.zeros(2)\n    answer: x.shape\n"
                    "  - id: b\n    question: q\n    setup: *xy\n    answer: x.dtype\n")
    assert [c.setup for c in load([p]).cards] == ["x = torch.zeros(2)", "x = torch.zeros(2)"]


@pytest.mark.parametrize(("text", "expected"), [
    ("deck: D\ncards:\n  - id: a\n    question: What is a: b?\n    answer: '1'\n",
     "{p}:4: invalid YAML at column 24: mapping values are not allowed in this context; quote the value "
     "(\"...\") or use a block scalar (`|`): a `: ` inside a plain value starts a mapping"),
    ("deck: D\ncards:\n  - id: a\n    question: `x` is?\n    answer: '1'\n",
     "{p}:4: invalid YAML at column 15: found character that cannot start any token; quote the value "
     "(\"...\"): a plain value cannot start with `"),
    ("deck: D\ncards:\n  - id: a\n\tquestion: x\n",
     "{p}:4: invalid YAML at column 1: found a tab character that violates indentation "
     "(while scanning a plain scalar started at line 3); indent with spaces, not tabs"),
    ("deck: D\ncards:\n  - id: a\n    question: q\n    answer: x\n    choices: [x[:, 0].shape]\n",
     "{p}:6: invalid YAML at column 16: did not find expected ',' or ']'; a flow list `[...]` cannot hold "
     "expressions with brackets, commas or colons: write it as a block list, one `- item` per line, as the "
     "README's card format shows"),
    ("deck: D\ncards:\n  - id: a\n    question: q\n    answer: x\n    choices: [a: b]\n",
     "{p}:6 [a]: `choices`: expected every option to be an expression (a string), found a mapping (a `[...]` "
     "inside a flow list is not YAML: write a block list, one `- item` per line)"),
], ids=["colon-in-value", "backtick", "tab", "brackets-in-flow-list", "colon-in-flow-list"])
def test_yaml_syntax_errors_give_the_column_and_the_fix(write_cards, text: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    p = write_cards(text)
    assert problems_of(p) == [expected.format(p=p)]


def card_with(field: str) -> str:
    return f"deck: D\ncards:\n  - id: abc\n    question: q\n    answer: '1'\n    {field}\n"


@pytest.mark.parametrize(("field", "message"), [
    ("seed: 4294967296", "`seed`: expected an integer from 0 to 2**32-1, found an integer 4294967296"),
    ("seed: -1", "`seed`: expected an integer from 0 to 2**32-1, found an integer -1"),
    ("seed: true", "`seed`: expected an integer from 0 to 2**32-1, found a boolean True"),
    ("seed: 1.5", "`seed`: expected an integer from 0 to 2**32-1, found a number 1.5"),
    ("timeout: .inf", "`timeout`: expected a number of seconds above 0 and at most 600, found a number inf"),
    ("timeout: .nan", "`timeout`: expected a number of seconds above 0 and at most 600, found a number nan"),
    ("timeout: 10000000000", "`timeout`: expected a number of seconds above 0 and at most 600, found an integer 10000000000"),
    ("timeout: true", "`timeout`: expected a number of seconds above 0 and at most 600, found a boolean True"),
    ("timeout: 0", "`timeout`: expected a number of seconds above 0 and at most 600, found an integer 0"),
    ('tags: ["t\\n"]', "`tags`: expected tags without spaces (Anki splits on spaces), found 't\\n'"),
    ("tags: {a: 1}", "`tags`: expected a list of strings, found a mapping"),
    ("expect: .inf", "`expect`: expected a value (text, number, list), found a number inf; quote it"),
    ("expect: {a: 1}", "`expect`: expected a value (text, number, list), found a mapping"),
    ("output: 1", "`output`: expected `true`, found an integer 1"),
    ("requires: [gpu]", "`requires`: expected a list of cuda, torchvision, numpy, found ['gpu']"),
    ("kind: shapes", "`kind`: expected one of shape, value, dtype, error, output, choice, cloze, exercise, found 'shapes' (did you mean `shape`?)"),
    ("source: [a]", "`source`: expected a string, found a list"),
    ("explain: {a: b}", "`explain`: expected a string, found a mapping"),
    ("choices: [true]", "`choices`: expected every option to be an expression (a string), found a boolean True; quote it"),
    ("choices: []", "`choices`: expected a non-empty list of expressions (strings), found a list"),
    ("params: {x: [1, 2]}", "`params`: expected `id` to use a placeholder ({x}) so every expansion has its own id, found 'abc'"),
    ("params: {x: [[1]]}", "`params`: expected `x` to list plain values (text, numbers), found a list"),
    ("params: {1x: [1]}", "`params`: expected identifier names, found '1x'"),
])
def test_every_field_is_type_checked(write_cards, field: str, message: str) -> None:  # type: ignore[no-untyped-def]
    p = write_cards(card_with(field))
    line = 3 if field.startswith("params: {x: [1, 2]}") else 6
    assert problems_of(p) == [f"{p}:{line} [abc]: {message}"]


def test_ids_are_matched_whole(write_cards) -> None:  # type: ignore[no-untyped-def]
    p = write_cards('deck: D\ncards:\n  - id: "abc\\n"\n    question: q\n    answer: "1"\n')
    assert problems_of(p) == [
        f"{p}:3 [abc\\n]: `id`: expected lowercase letters, digits, `-`, `_` or `.` (starting with a letter or digit), found 'abc\\n'"]


def test_limits_that_are_fine_load(write_cards) -> None:  # type: ignore[no-untyped-def]
    (card,) = load([write_cards(card_with("seed: 4294967295\n    timeout: 600"))]).cards
    assert card.seed == 2**32 - 1 and card.timeout == 600.0


def test_a_number_answer_is_the_expression_of_that_number(write_cards) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("deck: D\ncards:\n  - {id: zero, question: q, answer: 0}\n  - {id: half, question: q, answer: 0.5}\n"
                    "  - {id: opt, question: q, answer: 0, choices: [1, '2']}\n  - {id: yes, question: q, answer: true}\n")
    result = load([p])
    assert [(c.id, c.answer, c.choices) for c in result.cards] == [
        ("zero", "0", ()), ("half", "0.5", ()), ("opt", "0", ("1", "2"))]
    assert [str(x) for x in result.problems] == [
        f"{p}:6 [yes]: `answer`: expected a Python expression as a string, found a boolean True; quote it"]


def test_params_expansion_is_capped_before_expanding(write_cards) -> None:  # type: ignore[no-untyped-def]
    big = ", ".join(str(i) for i in range(1000))
    p = write_cards(f"deck: D\ncards:\n  - id: a-{{x}}-{{y}}\n    params: {{x: [{big}], y: [{big}]}}\n    question: q\n    answer: '{{x}}'\n")
    start = time.perf_counter()
    assert problems_of(p) == [f"{p}:4 [a-{{x}}-{{y}}]: `params`: expected at most 1000 cards from one entry, found 1000 x 1000 = 1000000 combinations"]
    assert time.perf_counter() - start < 5


def test_a_null_field_counts_as_left_out(write_cards) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("deck: D\ndefaults:\n  seed: 3\ncards:\n  - id: a\n    question: q\n    answer: '1'\n    seed:\n    tags:\n")
    (card,) = load([p]).cards
    assert card.seed == 3 and card.tags == ()


def test_code_python_cannot_compile_is_a_located_problem(write_cards) -> None:  # type: ignore[no-untyped-def]
    p = write_cards('deck: D\ncards:\n  - id: a\n    question: q\n    code: "x = 1\\0"\n    answer: x\n')
    (msg,) = problems_of(p)
    assert msg.startswith(f"{p}:5 [a]: `code`: expected valid Python, found ")


def test_the_expect_line_is_kept_for_mismatch_messages(write_cards) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("deck: D\ndefaults:\n  expect: '2'\ncards:\n  - id: a\n    question: q\n    answer: '1'\n"
                    "    expect:\n      - 1\n  - id: b\n    question: q\n    answer: '1'\n")
    assert [(c.id, c.line, c.expect_line, c.expect) for c in load([p]).cards] == [("a", 5, 8, [1]), ("b", 10, 3, "2")]


# --- The field table is the README's table ------------------------------------------------------

def _readme_field_rows() -> list[tuple[str, str]]:
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = text.split("### Card fields", 1)[1].split("\n\n", 2)[1]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [(re.match(r"\| `(\w+)` \|", r).group(1), r) for r in rows]  # type: ignore[union-attr]


def test_the_readme_lists_exactly_the_card_fields_of_the_table() -> None:
    rows = _readme_field_rows()
    assert [name for name, _ in rows] == [f.name for f in FIELDS]
    assert [name for name, row in rows if "**required.**" in row] == [f.name for f in FIELDS if f.required]
    params_row = dict(rows)["params"]
    listed = re.findall(r"`(\w+)`", params_row.split("substituted in", 1)[1])
    assert sorted(listed) == sorted(f.name for f in FIELDS if f.params)


def test_text_fields_take_a_plain_scalar_as_written(write_cards) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("deck: 2024\ncards:\n  - {id: no, question: 3, answer: '1', explain: yes, source: 1.50}\n"
                    "  - {id: 007, question: on, code: x = 1, cloze: 1, answer: x}\n")
    result = load([p])
    assert result.problems == ()
    assert [(c.deck, c.id, c.question, c.explain, c.source, c.cloze) for c in result.cards] == [
        ("2024", "no", "3", "yes", "1.50", None), ("2024", "007", "on", "", "", "1")]


def test_a_file_over_the_size_limit_is_not_read(tmp_path: Path) -> None:
    p = tmp_path / "huge.yaml"
    p.write_bytes(b"deck: D\ncards: []\n" + b"#" * (16 * 2**20))
    assert problems_of(p) == [f"{p}:1: expected a card file of at most 16 MiB (16777216 bytes), found 16777234 bytes"]


def test_messages_escape_what_a_terminal_would_obey(write_cards) -> None:  # type: ignore[no-untyped-def]
    p = write_cards('deck: D\ncards:\n  - id: "\\e[2Ja"\n    question: q\n    answer: "1"\n    "\\e]52;c;x\\a": 1\n')
    assert problems_of(p) == [
        f"{p}:6 [\\x1b[2Ja]: unknown field `\\x1b]52;c;x\\x07`",
        f"{p}:3 [\\x1b[2Ja]: `id`: expected lowercase letters, digits, `-`, `_` or `.` (starting with a letter or digit), found '\\x1b[2Ja'"]


def test_params_cannot_multiply_a_big_text(write_cards) -> None:  # type: ignore[no-untyped-def]
    code = "x = 1; y = '" + "y" * 99_987 + "'"
    p = write_cards(f"deck: D\ncards:\n  - id: a-{{n}}\n    params: {{n: [{', '.join(map(str, range(400)))}]}}\n"
                    f"    question: q\n    code: {code}\n    answer: x\n")
    start = time.perf_counter()
    assert problems_of(p) == [f"{p}:4 [a-{{n}}]: `params`: expected the cards of one entry to hold at most 32 MiB of text, "
                              "found 400 cards of 100007 characters each"]
    assert time.perf_counter() - start < 5


def test_a_file_of_too_many_values_stops_early(tmp_path: Path) -> None:
    p = tmp_path / "many.yaml"
    p.write_bytes(b"deck: D\ncards: [" + b"a, " * 300_000 + b"a]\n")
    assert problems_of(p) == [f"{p}:2: expected at most 200000 values in one file, found more; split the file"]


def test_absurd_values_are_located_problems(write_cards) -> None:  # type: ignore[no-untyped-def]
    p = write_cards(card_with("seed: " + "9" * 30))
    assert problems_of(p) == [f"{p}:6 [abc]: expected an integer of at most 64 bits, found '{'9' * 30}'"]
    p = write_cards(card_with("timeout: !!float ten"))
    assert problems_of(p) == [f"{p}:6 [abc]: expected a valid float, found 'ten'"]
    p = write_cards(card_with("choices: ['" + "-" * 100_000 + "1']"))
    (msg,) = problems_of(p)  # which error CPython's compiler gives for this depends on its version
    assert re.fullmatch(re.escape(f"{p}:6 [abc]: `choices[0]`: expected valid Python, found ") + r"(code Python cannot compile \((MemoryError|RecursionError).*\)|a SyntaxError: .+)", msg)


SOURCED_CARDS = """\
deck: D
cards:
  - id: titled
    question: q
    answer: "1"
    source: "a.txt#intro; https://pytorch.org/docs/stable/x.html#y; a book"
  - id: no-section
    question: q
    answer: "1"
    source: a.txt
  - id: typo-file
    question: q
    answer: "1"
    source: "b.txt#intro"
  - id: unknown-section
    question: q
    answer: "1"
    source: "a.txt#outro"
"""


def test_the_sources_table_titles_cards_and_a_card_citing_what_it_lacks_fails_alone(write_cards, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p = write_cards(SOURCED_CARDS)
    (tmp_path / "sources.conf").write_text('a.txt:\n  title: Notes A\n  sections: [intro, body]\n', encoding="utf-8")
    for paths in ([p], [tmp_path]):  # a card file names the table beside it, as its folder does
        result = load(paths)
        assert {c.id: c.source_titles for c in result.cards} == {"titled": (("a.txt", "Notes A"),),
                                                                 "no-section": (("a.txt", "Notes A"),)}
        assert [re.sub(r"^.*?cards\.yaml", "cards.yaml", str(x)) for x in result.problems] == [
            "cards.yaml:11 [typo-file]: `source`: expected a note file listed in sources.conf, found `b.txt` (did you mean `a.txt`?)",
            "cards.yaml:15 [unknown-section]: `source`: expected a section of `a.txt` listed in sources.conf, found `outro` (did you mean `intro`?)",
        ]
    (tmp_path / "sources.conf").unlink()  # no table: every source is shown as written
    assert [c.source_titles for c in load([p]).cards] == [()] * 4


@pytest.mark.parametrize(("table", "expected"), [
    ("a.txt: Notes A\nb.txt:\n  title: B\n", ["sources.conf:1: `a.txt`: expected a mapping with `title`, found a string 'Notes A'"]),
    ("a.txt:\n  titel: A\n", ["sources.conf:2: `a.txt`: unknown field `titel` (did you mean `title`?); expected one of: title, about, sections",
                              "sources.conf:1: `a.txt`: missing `title`: expected one line of text (the note's title)"]),
    ("a.txt:\n  title: A\n  sections: [x, x]\n", ["sources.conf:3: `a.txt`: `sections`: expected each section once, found x twice"]),
    ("a.txt:\n  title: A\n  sections: x\n", ["sources.conf:3: `a.txt`: `sections`: expected a list of section names (text without `;`), found a string 'x'"]),
    ("a#b.txt:\n  title: A\n", ["sources.conf:1: expected a note file name (no `#`, `;` or surrounding spaces), found `a#b.txt`"]),
    ("- a.txt\n", ["sources.conf:1: expected a mapping of note files to `title` (and optional `about`, `sections`), found a list"]),
    ("a.txt: [\n", None),
])
def test_sources_table_errors_are_located(write_cards, tmp_path: Path, table: str, expected: list[str] | None) -> None:  # type: ignore[no-untyped-def]
    p = write_cards(SOURCED_CARDS)
    (tmp_path / "sources.conf").write_text(table, encoding="utf-8")
    shown = [re.sub(r"^.*?sources\.conf", "sources.conf", str(x)) for x in load([p]).problems if "sources.conf:" in str(x)]
    if expected is None:  # broken YAML: one located problem, the cards that cite the table fail alone
        assert len(shown) == 1 and shown[0].startswith("sources.conf:")
    else:
        assert shown == expected
