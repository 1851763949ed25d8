"""`tnquiz lint`: each check on small decks, positive and negative, through the real runner (real torch)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.api import check
from generator.cli import main
from generator.cloze import cloze_alternatives
from generator.execute.cache import Cache
from generator.lint import CHECKS, Finding, LintResult, config_for, lint, load_config
from generator.lint.checks import (
    MAX_ANSWER_CHARS,
    MAX_CODE_LINES,
    MAX_QUESTION_CHARS,
    MAX_SETUP_LINES,
)
from generator.load import load
from tests.conftest import ROOT, Built, run_tnquiz

LONG_QUESTION = "What is the shape? " + "Read carefully. " * 20

# One deck for the per-card checks: each card is a positive (P) or negative (N) case of one check.
DECK = f"""\
deck: Lint::Demo
cards:
  # random
  - id: rand-values                                   # P: the values depend on the seed
    question: What is `x`?
    code: x = torch.rand(3)
    answer: x
  - id: rand-shape                                    # N: the shape does not
    question: What is the shape of `x`?
    code: x = torch.rand(3, 2)
    answer: x.shape
  - id: manual-seed-in-code                           # P: torch.manual_seed inside the code
    question: What is `x`?
    code: |
      torch.manual_seed(7)
      x = torch.randint(0, 1000, (3,))
    answer: x.tolist()
  - id: generator-seed                                # P: a torch.Generator seeded in the code
    question: What is `x`?
    code: |
      g = torch.Generator().manual_seed(5)
      x = torch.randint(0, 1000, (3,), generator=g)
    answer: x.tolist()
  - id: python-random-seed                            # P: random.seed inside the code
    question: What is `v`?
    code: |
      import random
      random.seed(1)
      v = random.randint(0, 10**6)
    answer: v
  - id: numpy-seed                                    # P: numpy.random.seed and default_rng in the code
    question: What are `v` and `w`?
    requires: [numpy]
    code: |
      import numpy as np
      np.random.seed(0)
      v = int(np.random.randint(0, 10**6))
      w = int(np.random.default_rng(0).integers(0, 10**6))
    answer: (v, w)
  - id: numpy-rng-only                                # P: default_rng alone
    question: What is `w`?
    requires: [numpy]
    code: |
      import numpy as np
      w = int(np.random.default_rng(seed=4).integers(0, 10**6))
    answer: w
  - id: seeded-twice-equal                            # N: random, but the answer is a property
    question: Are two runs from the same seed equal?
    code: |
      torch.manual_seed(3); a = torch.rand(4)
      torch.manual_seed(3); b = torch.rand(4)
    answer: torch.equal(a, b)
  - id: rand-silenced                                 # P, silenced in lint.conf
    question: What is `x`?
    code: x = torch.randn(2)
    answer: x
  - id: exercise-random                               # N: an exercise's answer is a reference, not recalled
    question: Make `y`, the transpose of `x`.
    setup: x = torch.rand(6, 70)
    solution: y = x.t()
    answer: y
    variants:
      - x = torch.rand(2, 3)
  # duplicates
  - id: dup-first
    question: What is the shape of `z`?
    code: z = torch.zeros(2, 3)
    answer: z.shape
  - id: dup-exact                                     # P: same code up to spacing and comments
    question: Shape of `z`, again?
    code: "z = torch.zeros(2,   3)  # the same"
    answer: z.shape
  - id: dup-renamed                                   # P: the same program with other names
    question: Shape of `y`?
    code: y = torch.zeros(2, 3)
    answer: y.shape
  - id: dup-other-function                            # N: same answer, another function
    question: Shape of the ones?
    code: z = torch.ones(2, 3)
    answer: z.shape
  - id: dup-default-dtype
    question: Default of `dtype`?
    code: |
      import inspect
      d = inspect.signature(torch.nn.Linear).parameters["dtype"].default
    answer: d
  - id: dup-default-device                            # N: same answer, another parameter (string)
    question: Default of `device`?
    code: |
      import inspect
      d = inspect.signature(torch.nn.Linear).parameters["device"].default
    answer: d
  - id: dup-near                                      # P: same answer, nearly the same code
    question: Shape of this `z`?
    code: z = torch.zeros(2, 3) + 0
    answer: z.shape
  - id: dup-other-code                                # N: same answer, different code
    question: Shape after the view?
    code: w = torch.arange(6).view(2, -1)
    answer: w.shape
  # length
  - id: long-question                                 # P
    question: "{LONG_QUESTION}"
    answer: torch.zeros(1).shape
  - id: long-setup                                    # P
    question: What is `s`?
    setup: |
{"".join(f"      a{i} = {i}{chr(10)}" for i in range(MAX_SETUP_LINES + 1))}    answer: a0 + a1
  - id: long-code                                     # P
    question: What is `s`?
    code: |
{"".join(f"      s{i} = {i}{chr(10)}" for i in range(MAX_CODE_LINES + 1))}    answer: s1 + s2
  - id: long-explain                                  # P
    question: What is `s`?
    answer: 1 + 1
    explain: "{"Because. " * 50}"
  - id: long-answer                                   # P
    question: What is `t`?
    code: t = "ab" * {MAX_ANSWER_CHARS}
    answer: t
  - id: long-error                                    # N: only the type and first line count
    question: What does it raise?
    code: |
      raise ValueError("short first line\\n" + "detail " * 200)
    raises: ValueError
  # kind
  - id: kind-shape-on-dtype                           # P
    question: What is it?
    kind: shape
    answer: torch.zeros(2).dtype
  - id: kind-dtype-on-dtype                           # N
    question: What is it?
    kind: dtype
    answer: (torch.ones(2) * 2).dtype
  # params-leftovers
  - id: leftover-bool                                 # P
    question: How many batches with `drop_last=bool(1)`?
    answer: 10 // 3
  - id: leftover-dashes                               # P
    question: "Output size for (in, k, p, s, d) = 5-3-0-1-1 (dash-separated)?"
    answer: (5 - 3) // 1 + 1
  - id: no-leftover                                   # N: one dash, a version number
    question: "What is 7-2 in torch 2.13.0 with `drop_last=True`?"
    answer: 7 - 2
  # cloze-undetermined
  - id: cloze-dim-ambiguous                           # N: dim=-1 is the same axis: the build records it
    question: Fill in the blank so that `z` has the shape shown.
    setup: x = torch.zeros(2, 2)
    code: z = torch.cat([x, x], dim=1)
    cloze: dim=1
    answer: z.shape
  - id: cloze-dim-determined                          # N: only dim=-2 is the same axis: recorded
    question: Fill in the blank so that `z` has the shape shown.
    setup: x = torch.zeros(2, 3, 4)
    code: z = torch.cat([x, x], dim=1)
    cloze: dim=1
    answer: z.shape
  - id: cloze-keyword-is-default                      # P: leaving the keyword out gives the same
    question: Fill in the blank so that the dtype is the one shown.
    setup: x = torch.ones(3)
    code: s = torch.sum(x, dtype=torch.float32)
    cloze: dtype=torch.float32
    answer: s.dtype
  - id: cloze-sibling-same                            # N: `reshape` gives the same: recorded
    question: Fill in the blank.
    setup: x = torch.arange(6)
    code: y = x.view(2, 3)
    cloze: view
    answer: y.shape
  # contradicted, failed
  - id: expect-wrong                                  # P
    question: What is the shape?
    answer: torch.zeros(2, 4).shape
    expect: "[2, 5]"
  - id: expect-right                                  # N
    question: What is the dtype?
    answer: torch.arange(3).dtype
    expect: int64
  - id: code-fails                                    # P (failed)
    question: What is it?
    code: y = undefined_name + 1
    answer: y
"""

CONFIG = """\
# silenced on purpose
ignore:
  random: [rand-silenced]
  true-false: ["*"]
"""


def _by(result: LintResult) -> dict[tuple[str, str | None], list[Finding]]:
    out: dict[tuple[str, str | None], list[Finding]] = {}
    for f in result.findings:
        out.setdefault((f.check, f.card_id), []).append(f)
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LintResult]:
    folder = tmp_path_factory.mktemp("lintdeck")
    (folder / "demo.yaml").write_text(DECK, encoding="utf-8")
    (folder / "lint.conf").write_text(CONFIG, encoding="utf-8")
    config, problems = config_for([folder])
    assert problems == [] and config.ignore["random"] == {"rand-silenced"}
    result = lint(load([folder]), cache=Cache(), config=config, jobs=1)
    assert result.problems == ()
    return folder, result


def _flagged(result: LintResult, check: str) -> set[str | None]:
    return {f.card_id for f in result.findings if f.check == check}


def test_random_flags_answers_that_change_with_every_seed_shifted(demo: tuple[Path, LintResult]) -> None:
    _, result = demo
    assert _flagged(result, "random") == {"rand-values", "manual-seed-in-code", "generator-seed",
                                          "python-random-seed", "numpy-seed", "numpy-rng-only"}
    (f,) = _by(result)[("random", "rand-values")]
    assert "the answer changes when every seed is shifted by one: tensor([" in f.message


def test_duplicates_exact_and_near(demo: tuple[Path, LintResult]) -> None:
    _, result = demo
    by = _by(result)
    assert _flagged(result, "duplicates") == {"dup-exact", "dup-renamed", "dup-near"}
    assert "the same setup, code and answer as `dup-first`" in by[("duplicates", "dup-exact")][0].message
    assert "the same setup, code and answer as `dup-first`" in by[("duplicates", "dup-renamed")][0].message
    assert "the same answer as, and code 9" in by[("duplicates", "dup-near")][0].message


def test_length_limits(demo: tuple[Path, LintResult]) -> None:
    _, result = demo
    by = _by(result)
    assert _flagged(result, "length") == {"long-question", "long-setup", "long-code", "long-answer",
                                          "long-explain"}
    assert f"at most {MAX_QUESTION_CHARS} fit a phone screen" in by[("length", "long-question")][0].message
    assert f"has {MAX_SETUP_LINES + 1} lines" in by[("length", "long-setup")][0].message
    assert f"has {MAX_CODE_LINES + 1} lines" in by[("length", "long-code")][0].message
    assert "the answer is too long for a phone screen" in by[("length", "long-answer")][0].message


def test_kind_that_does_not_fit_the_live_answer(demo: tuple[Path, LintResult]) -> None:
    _, result = demo
    (f,) = [f for f in result.findings if f.check == "kind"]
    assert f.card_id == "kind-shape-on-dtype"
    assert "`kind: shape` expected a shape answer, found a dtype answer (torch.float32)" in f.message


def test_params_leftovers(demo: tuple[Path, LintResult]) -> None:
    _, result = demo
    by = _by(result)
    assert _flagged(result, "params-leftovers") == {"leftover-bool", "leftover-dashes"}
    assert "`bool(1)`" in by[("params-leftovers", "leftover-bool")][0].message
    assert "`5-3-0-1-1`" in by[("params-leftovers", "leftover-dashes")][0].message


def test_cloze_undetermined(demo: tuple[Path, LintResult]) -> None:
    """Only what the build cannot record is flagged: a keyword left out. `dim=-1` and `reshape` give
    the same result too, but the build records them and every grader accepts them."""
    folder, result = demo
    by = _by(result)
    assert _flagged(result, "cloze-undetermined") == {"cloze-keyword-is-default"}
    (f,) = by[("cloze-undetermined", "cloze-keyword-is-default")]
    assert f.message == ("the blank `dtype=torch.float32` is not determined by what the card shows: "
                         "`(left out)` gives the same result, and no answer typed into the blank stands for it")
    built = {c.id: c for c in check([folder], cache=Cache(), jobs=1).cards}  # the same runs, cached
    assert built["cloze-dim-ambiguous"].cloze_equivalents == ("dim=-1",)
    assert built["cloze-sibling-same"].cloze_equivalents == ("reshape",)
    assert built["cloze-dim-determined"].cloze_equivalents == ("dim=-2",)  # 3-D: the same axis
    assert built["cloze-keyword-is-default"].cloze_equivalents == ()


def test_contradicted_and_failed(demo: tuple[Path, LintResult]) -> None:
    _, result = demo
    assert _flagged(result, "contradicted") == {"expect-wrong"}
    assert _flagged(result, "failed") == {"code-fails"}
    (f,) = _by(result)[("failed", "code-fails")]
    assert "NameError" in f.message


def test_config_silences_and_true_false_star(demo: tuple[Path, LintResult]) -> None:
    _, result = demo
    assert "rand-silenced" not in _flagged(result, "random")
    assert _flagged(result, "true-false") == set()  # the deck has 1 bool of ~30, but "*" silences anyway


def test_findings_are_located_and_sorted(demo: tuple[Path, LintResult]) -> None:
    folder, result = demo
    text = (folder / "demo.yaml").read_text().splitlines()
    for f in result.findings:
        assert f.check in CHECKS
        assert f.file.endswith("demo.yaml")
        if f.check not in ("length",):  # length may point at the setup or code line
            assert text[f.line - 1].strip() == f"- id: {f.card_id}" or f"id: {f.card_id}" in text[f.line - 1]
    assert list(result.findings) == sorted(result.findings, key=lambda f: (f.file, f.line, f.check))


TF_CARDS = "\n".join(
    f"  - id: tf-{i}\n    question: Q{i}?\n    answer: {v}\n" for i, v in enumerate(
        ["torch.zeros(1).numel() == 1", "not False", "torch.is_tensor(torch.zeros(1))", "1 > 2", "torch.zeros(2).shape"]))
BALANCED = "\n".join(
    [f"  - id: tfb-{i}\n    question: Q{i}?\n    answer: {v}\n" for i, v in enumerate(["not False", "not True"])]
    + [f"  - id: val-{i}\n    question: V{i}?\n    answer: {i} * 2\n" for i in range(18)])


def test_true_false_share_and_balance(tmp_path: Path) -> None:
    deck = tmp_path / "tf.yaml"
    deck.write_text("deck: TF\ncards:\n" + TF_CARDS, encoding="utf-8")
    result = lint(load([deck]), cache=Cache(), jobs=1)
    assert result.problems == ()
    msgs = [f.message for f in result.findings if f.check == "true-false"]
    assert len(msgs) == 2, result.findings
    assert msgs[0].startswith("4 of 5 answers are True/False (80%); at most 10% of a deck should be")
    assert msgs[1].startswith("True:False is 3:1; always answering True scores 75%: at most 60% of them")

    balanced = tmp_path / "balanced.yaml"
    balanced.write_text("deck: TF\ncards:\n" + BALANCED, encoding="utf-8")
    result = lint(load([balanced]), cache=Cache(), jobs=1)
    assert result.problems == ()
    assert [f for f in result.findings if f.check == "true-false"] == []  # 2 of 20, 1:1


def test_cloze_alternatives_are_plausible_tokens() -> None:
    # neighbours, the negation, small axes, and the same axis counted from the end (up to 5-D)
    assert cloze_alternatives("dim=1") == ["dim=0", "dim=2", "dim=-1", "dim=-2", "dim=-3", "dim=-4"]
    assert cloze_alternatives("dim=-1") == ["dim=-2", "dim=0", "dim=1", "dim=2", "dim=3", "dim=4"]
    assert "dim=0" in cloze_alternatives("dim=-1") and "dim=1" in cloze_alternatives("dim=-1")
    assert cloze_alternatives("keepdim=True") == ["keepdim=False"]
    assert "unsqueeze" in cloze_alternatives("squeeze")
    assert "map_location='cuda'" in cloze_alternatives("map_location='cpu'")
    assert cloze_alternatives("x +") == [] or all(a != "x +" for a in cloze_alternatives("x +"))


def test_config_errors_are_located(tmp_path: Path) -> None:
    conf = tmp_path / "lint.conf"
    conf.write_text("ignore:\n  randum: [a]\n  duplicates: a-string\nextra: 1\n", encoding="utf-8")
    config, problems = load_config(conf, "cards/lint.conf")
    assert [str(p) for p in problems] == [
        "cards/lint.conf:2: unknown check `randum` (did you mean `random`?); expected one of: "
        + ", ".join(CHECKS),
        "cards/lint.conf:3: `ignore.duplicates`: expected a list of card ids (or \"*\"), found something else",
        "cards/lint.conf:4: unknown field `extra`; expected `ignore`",
    ]
    assert config.ignore == {}
    conf.write_text("ignore: [\n", encoding="utf-8")
    _, problems = load_config(conf, "lint.conf")
    assert len(problems) == 1 and str(problems[0]).startswith("lint.conf:2: invalid YAML")


CLI_DECK = """\
deck: Lint::Cli
cards:
  - id: rand-values
    question: What is `x`?
    code: x = torch.rand(2)
    answer: x
  - id: fine
    question: What shape?
    answer: torch.zeros(2, 3).shape
"""


def test_lint_help_has_examples_and_every_check() -> None:
    result = CliRunner().invoke(main, ["lint", "--help"])
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.output
    assert all(name in result.output for name in CHECKS)


def test_cli_warnings_exit_codes_json_and_config(tmp_path: Path) -> None:
    deck = tmp_path / "cli.yaml"
    deck.write_text(CLI_DECK, encoding="utf-8")
    plain = run_tnquiz("lint", str(deck))
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines() == [
        f"{deck}:3 [rand-values]: random: the answer changes when every seed is shifted by one: "
        "tensor([0.4963, 0.7682]) -> tensor([0.7576, 0.2793]); ask about what does not depend on the "
        "random numbers (or silence `random` for this card in lint.conf)"]
    assert "2 cards linted: 1 warnings (1 random)" in plain.stderr

    strict = run_tnquiz("lint", str(deck), "--strict")
    assert strict.returncode == 1
    assert "Error: 2 cards linted: 1 warnings (1 random); 0 runs (--strict)" in strict.stderr  # all cached
    assert "Traceback" not in strict.stderr

    as_json = run_tnquiz("lint", str(deck), "--json")
    data = json.loads(as_json.stdout)
    assert data["cards"] == 2 and data["errors"] == []
    assert [(w["check"], w["id"], w["line"]) for w in data["warnings"]] == [("random", "rand-values", 3)]

    # everything is cached now: lint runs nothing, and never imports torch itself
    probe = ("import sys; from generator.cli import main\n"
             "try:\n    main(['lint', sys.argv[1]])\nexcept SystemExit:\n    pass\n"
             "print('torch' in sys.modules)")
    cached = subprocess.run([sys.executable, "-c", probe, str(deck)], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert cached.stdout.splitlines()[-1] == "False", cached.stdout + cached.stderr
    assert "; 0 runs" in cached.stderr

    (tmp_path / "lint.conf").write_text("ignore:\n  random: [rand-values]\n", encoding="utf-8")
    silenced = run_tnquiz("lint", str(deck), "--strict")
    assert silenced.returncode == 0, silenced.stderr
    assert silenced.stdout == ""

    bad = tmp_path / "other.conf"
    bad.write_text("ignore:\n  nope: [x]\n", encoding="utf-8")
    broken = run_tnquiz("lint", str(deck), "--config", str(bad))
    assert broken.returncode == 2  # api.EXIT_INPUT
    assert f"error: {bad}:2: unknown check `nope`" in broken.stderr
    assert "Traceback" not in broken.stderr


@pytest.mark.slow
def test_bundled_deck_passes_lint_strict(bundled_deck: Built) -> None:
    # the cards' own results come from bundled_deck's cache (it ran them); the shifted seeds and
    # the cloze variants run here
    result = run_tnquiz("lint", "--strict", env={"TNQUIZ_CACHE_DIR": str(bundled_deck.cache)}, timeout=1800)
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
