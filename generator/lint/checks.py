"""The lint checks: find cards that are correct but teach badly, by running them and variants of them.

Torch-free like the rest of the pipeline: every card, and every variant of it (seeds shifted, a cloze
blank filled with another token), runs through :func:`generator.execute.runner.run_cards` (cached).
Each check has a stable name; a deck silences a check for chosen cards on purpose in a ``lint.conf``
file (YAML) beside its card files:

.. code-block:: yaml

    ignore:
      random: [dropout-train-mode]     # card ids, or "*" for every card
      true-false: ["*"]
"""

from __future__ import annotations

import builtins
import difflib
import io
import keyword
import re
import tokenize
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from generator.cloze import add_variants, equivalents, same_result, signature
from generator.execute.cache import Cache
from generator.execute.runner import run_cards
from generator.grading import normalize_cloze
from generator.lint.names import CHECKS, CONFIG_NAME
from generator.load import LoadResult
from generator.model import BuiltCard, Card, Location, Outcome, Problem
from generator.verify import verify

#: Every check, by its stable name (the names used in ``lint.conf`` and in each warning).

# -- limits (what fits a phone screen in portrait without scrolling) -------------------------------
MAX_QUESTION_CHARS = 300
MAX_SETUP_LINES = 8
MAX_CODE_LINES = 12
MAX_EXPLAIN_CHARS = 400
MAX_LINE_CHARS = 100
MAX_ANSWER_CHARS = 400  # an error answer is measured as its type and first message line
MAX_ANSWER_LINES = 12
#: More than this share of True/False answers in a deck is flagged ...
MAX_TRUE_FALSE_SHARE = 0.10
#: ... and so is a deck where one of True/False has more than this share of them.
MAX_TRUE_FALSE_MAJORITY = 0.6
#: Two cards with the same answer whose programs (setup, code, answer expression: Python tokens, the
#: card's own names renamed) are at least this similar (difflib ratio) are near-duplicates.
NEAR_DUPLICATE_RATIO = 0.9


@dataclass(frozen=True)
class Finding:
    """One lint warning: ``FILE:LINE [id]: check: message``."""

    check: str
    file: str
    line: int
    card_id: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" + (f" [{self.card_id}]" if self.card_id else "")
        return f"{where}: {self.check}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "file": self.file, "line": self.line, "id": self.card_id,
                "message": self.message}


@dataclass(frozen=True)
class LintConfig:
    """Checks silenced on purpose: check name -> card ids (``*``: every card)."""

    ignore: dict[str, frozenset[str]] = field(default_factory=dict)
    file: str | None = None

    def silenced(self, check: str, *card_ids: str | None) -> bool:
        ids = self.ignore.get(check, frozenset())
        return "*" in ids or any(i in ids for i in card_ids if i)


@dataclass(frozen=True)
class LintResult:
    findings: tuple[Finding, ...]
    problems: tuple[Problem, ...]  # cards that did not load (left out)
    cards: int
    skipped: int  # cards that could not run here (a missing GPU or package): not linted past their text
    runs: int  # card runs a worker did now (variants included); 0 when everything was cached
    silenced: int


# -- config -----------------------------------------------------------------------------------------

def config_for(paths: Sequence[Path]) -> tuple[LintConfig, list[Problem]]:
    """The config that applies to ``paths`` (see :func:`find_config`); an empty one if none does."""
    path = find_config(paths)
    if path is None:
        return LintConfig(), []
    from generator.load import display_path

    return load_config(path, display_path(path))


def find_config(paths: Sequence[Path]) -> Path | None:
    """``lint.conf`` in the first folder named by ``paths`` (or holding the first file named)."""
    from generator.paths import bundled_cards_dir

    folders = [p if p.is_dir() else p.parent for p in paths] or [bundled_cards_dir()]
    for folder in folders:
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def load_config(path: Path, shown: str | None = None) -> tuple[LintConfig, list[Problem]]:
    """Read a ``lint.conf``; every problem is located and reported, the rest of the file still counts."""
    shown = shown or str(path)
    problems: list[Problem] = []

    def bad(line: int, message: str) -> None:
        problems.append(Problem(Location(shown, line), None, message))

    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError) as e:
        bad(0, f"cannot read the lint config: {e}")
        return LintConfig(file=shown), problems
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        bad(mark.line + 1 if mark else 0, f"invalid YAML: {e.problem or e}")
        return LintConfig(file=shown), problems
    except yaml.YAMLError as e:
        bad(0, f"invalid YAML: {e}")
        return LintConfig(file=shown), problems
    ignore: dict[str, frozenset[str]] = {}
    if root is None:
        return LintConfig(file=shown), problems
    if not isinstance(root, yaml.MappingNode):
        bad(root.start_mark.line + 1, "expected a mapping with `ignore`, found something else")
        return LintConfig(file=shown), problems
    for key_node, value_node in root.value:
        line = key_node.start_mark.line + 1
        if key_node.value != "ignore":
            bad(line, f"unknown field `{key_node.value}`; expected `ignore`")
            continue
        if not isinstance(value_node, yaml.MappingNode):
            bad(line, "`ignore`: expected a mapping of check name -> list of card ids")
            continue
        for check_node, ids_node in value_node.value:
            cline = check_node.start_mark.line + 1
            name = str(check_node.value)
            if name not in CHECKS:
                close = difflib.get_close_matches(name, list(CHECKS), n=1)
                hint = f" (did you mean `{close[0]}`?)" if close else ""
                bad(cline, f"unknown check `{name}`{hint}; expected one of: {', '.join(CHECKS)}")
                continue
            if not isinstance(ids_node, yaml.SequenceNode) or not all(
                    isinstance(n, yaml.ScalarNode) and n.value for n in ids_node.value):
                bad(cline, f"`ignore.{name}`: expected a list of card ids (or \"*\"), found something else")
                continue
            ignore[name] = frozenset(str(n.value) for n in ids_node.value)
    return LintConfig(ignore=ignore, file=shown), problems


# -- helpers ------------------------------------------------------------------------------------------

def _short(text: str, n: int = 70) -> str:
    one = " ".join(text.split())
    return one if len(one) <= n else one[: n - 3] + "..."


def _finding(check: str, card: Card, message: str, line: int | None = None) -> Finding:
    return Finding(check, card.file, line or card.line, card.id, message)


def _shown(sig: tuple[Any, ...]) -> str:
    if sig[0] == "raised":
        return _short(f"the code fails: {sig[1]}")
    return _short(str(sig[0]))


# -- random -------------------------------------------------------------------------------------------

#: Prepended to a card's setup (and its `seed` raised by one): every seeding call the card makes
#: seeds ``n + 1`` instead of ``n``. Names are prefixed so that they clash with nothing a card uses.
SHIFT_SEEDS = '''\
def _tnq_shift(f, name):
    def seeded(*a, **k):
        if a and isinstance(a[0], int) and not isinstance(a[0], bool):
            a = (a[0] + 1, *a[1:])
        elif isinstance(k.get(name), int) and not isinstance(k.get(name), bool):
            k[name] = k[name] + 1
        return f(*a, **k)
    return seeded
torch.manual_seed = torch.random.manual_seed = _tnq_shift(torch.manual_seed, "seed")
torch.cuda.manual_seed = _tnq_shift(torch.cuda.manual_seed, "seed")
torch.cuda.manual_seed_all = _tnq_shift(torch.cuda.manual_seed_all, "seed")
class _TnqGenerator(torch.Generator):
    def manual_seed(self, seed):
        return super().manual_seed(seed + 1 if isinstance(seed, int) and not isinstance(seed, bool) else seed)
torch.Generator = _TnqGenerator
import random as _tnq_random
_tnq_random.seed = _tnq_shift(_tnq_random.seed, "a")
try:
    import numpy.random as _tnq_np_random
except ImportError:
    pass
else:
    _tnq_np_random.seed = _tnq_shift(_tnq_np_random.seed, "seed")
    _tnq_np_random.default_rng = _tnq_shift(_tnq_np_random.default_rng, "seed")
    del _tnq_np_random
del _tnq_shift, _TnqGenerator, _tnq_random
'''


def seed_shifted(card: Card) -> Card:
    """A copy of ``card`` that runs with every seed shifted by one."""
    return replace(card, seed=card.seed + 1, setup=SHIFT_SEEDS + card.setup)


# -- text checks --------------------------------------------------------------------------------------

_BOOL_CALL = re.compile(r"\bbool\([01]\)")
_DASH_JOINED = re.compile(r"(?<![\w.-])-?\d+(?:-\d+){2,}(?![\w.])")


def _text_checks(card: Card) -> list[Finding]:
    out: list[Finding] = []
    for pattern, what in ((_BOOL_CALL, "`bool(...)`"), (_DASH_JOINED, "dash-joined numbers")):
        m = pattern.search(card.question)
        if m:
            out.append(_finding("params-leftovers", card,
                                f"the question holds {what} `{m.group(0)}`, a leftover of `params` "
                                "formatting: write the value as a learner would read it"))
    if len(card.question) > MAX_QUESTION_CHARS:
        out.append(_finding("length", card, f"the question has {len(card.question)} characters; "
                                             f"at most {MAX_QUESTION_CHARS} fit a phone screen"))
    setup_lines = card.setup.strip("\n").splitlines() if card.setup.strip() else []
    code_lines = card.code.strip("\n").splitlines() if card.code.strip() else []
    if len(setup_lines) > MAX_SETUP_LINES:
        out.append(_finding("length", card, f"the setup (\"Given\") has {len(setup_lines)} lines; "
                                             f"at most {MAX_SETUP_LINES} fit a phone screen",
                            card.setup_line or None))
    if len(code_lines) > MAX_CODE_LINES:
        out.append(_finding("length", card, f"the code has {len(code_lines)} lines; at most "
                                             f"{MAX_CODE_LINES} fit a phone screen", card.code_line or None))
    if len(card.explain) > MAX_EXPLAIN_CHARS:
        out.append(_finding("length", card, f"the explanation has {len(card.explain)} characters; "
                                             f"at most {MAX_EXPLAIN_CHARS} fit a phone screen"))
    for part, lines, start in (("setup", setup_lines, card.setup_line), ("code", code_lines, card.code_line)):
        for i, ln in enumerate(lines):
            if len(ln) > MAX_LINE_CHARS:
                out.append(_finding("length", card, f"a {part} line has {len(ln)} characters; at most "
                                                     f"{MAX_LINE_CHARS} fit a phone screen", (start + i) if start else None))
                break
    return out


def _answer_checks(built: BuiltCard, declared_kind: str) -> list[Finding]:
    card, answer = built.card, built.answer
    out: list[Finding] = []
    if answer is None:
        return out
    shown = answer.text
    if answer.type == "error":
        shown = f"{answer.exception}: {(answer.message or '').strip().splitlines()[0] if (answer.message or '').strip() else ''}"
    lines = shown.rstrip("\n").splitlines()
    if card.kind != "exercise" and (len(shown) > MAX_ANSWER_CHARS or len(lines) > MAX_ANSWER_LINES):
        what = "its type and first message line have" if answer.type == "error" else "it has"
        out.append(_finding("length", card, f"the answer is too long for a phone screen: {what} "
                                             f"{len(shown)} characters in {len(lines)} lines (at most "
                                             f"{MAX_ANSWER_CHARS} characters, {MAX_ANSWER_LINES} lines)",
                            card.answer_line or None))
    fits = {"shape": ("shape",), "dtype": ("dtype",), "value": ("tensor", "python")}
    if declared_kind in fits and answer.type not in fits[declared_kind]:
        out.append(_finding("kind", card, f"`kind: {declared_kind}` expected a "
                                          f"{' or '.join(fits[declared_kind])} answer, found a {answer.type} "
                                          f"answer ({_short(answer.text, 40)}); the quiz would ask for the "
                                          "wrong thing: drop `kind` or fix it"))
    return out


def _is_bool(built: BuiltCard) -> bool | None:
    a = built.answer
    if a is None:
        return None
    if a.type == "python" and isinstance(a.value, bool):
        return a.value
    if a.type == "output" and a.text.strip() in ("True", "False"):
        return a.text.strip() == "True"
    return None


def _deck_checks(built: Sequence[BuiltCard], config: LintConfig, where: str) -> list[Finding]:
    counted = [b for b in built if b.answer is not None and not config.silenced("true-false", b.id)]
    bools = [(b, v) for b in counted if (v := _is_bool(b)) is not None]
    out: list[Finding] = []
    if not counted or not bools:
        return out
    share = len(bools) / len(counted)
    trues = sum(1 for _, v in bools if v)
    by_file = Counter(b.card.file for b, _ in bools).most_common(3)
    files = ", ".join(f"{f} ({n})" for f, n in by_file)
    if share > MAX_TRUE_FALSE_SHARE:
        out.append(Finding("true-false", where, 0, None,
                           f"{len(bools)} of {len(counted)} answers are True/False ({share:.0%}); at most "
                           f"{MAX_TRUE_FALSE_SHARE:.0%} of a deck should be: ask for the value, shape or "
                           f"error instead (most in {files})"))
    if len(bools) >= 3 and max(trues, len(bools) - trues) > MAX_TRUE_FALSE_MAJORITY * len(bools):
        major = "True" if trues * 2 > len(bools) else "False"
        out.append(Finding("true-false", where, 0, None,
                           f"True:False is {trues}:{len(bools) - trues}; always answering {major} scores "
                           f"{max(trues, len(bools) - trues) / len(bools):.0%}: at most "
                           f"{MAX_TRUE_FALSE_MAJORITY:.0%} of them should be one answer"))
    return out


_SKIPPED_TOKENS = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                   tokenize.ENDMARKER)
_GLOBAL_NAMES = frozenset({"torch", "nn", "F", "device", "np", "numpy", "math", "random", "torchvision",
                           *dir(builtins), *keyword.kwlist})


def _tokens(text: str) -> tuple[str, ...]:
    """Python tokens of ``text`` without comments and layout (whitespace-split where it does not
    tokenize), so that ``squeeze``/``unsqueeze`` differ by one token, not by two letters."""
    try:
        return tuple(t.string for t in tokenize.generate_tokens(io.StringIO(text).readline)
                     if t.type not in _SKIPPED_TOKENS)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return tuple(text.split())


def _program(card: Card) -> tuple[str, ...]:
    """Setup, code and what is asked, as one token sequence with the card's own names renamed
    (``opt``/``optimizer`` -> ``_1``) in order of appearance: attributes and keywords stay."""
    toks = (*_tokens(card.setup), ";", *_tokens(card.code), "|", *_spec(card))
    names: dict[str, str] = {}
    out: list[str] = []
    for i, t in enumerate(toks):
        if (t.isidentifier() and t not in _GLOBAL_NAMES and (i == 0 or toks[i - 1] != ".")
                and not (i + 1 < len(toks) and toks[i + 1] == "=" and i > 0 and toks[i - 1] in ("(", ","))):
            t = names.setdefault(t, f"_{len(names) + 1}")
        out.append(t)
    return tuple(out)


def _spec(card: Card) -> tuple[str, ...]:
    """What the card asks for, as tokens: its answer expression, `raises`, `output`, blank, choices."""
    out = list(_tokens(card.answer or ""))
    if card.raises:
        out += ["raises", card.raises]
    if card.output:
        out.append("output")
    if card.cloze:
        out += ["cloze", *_tokens(card.cloze)]
    for c in sorted(card.choices):
        out += ["choice", *_tokens(c)]
    return tuple(out)


def _vocabulary(tokens: Sequence[str]) -> frozenset[str]:
    """The attribute names and string literals a program uses (``.size``, ``.squeeze``,
    ``"prefetch_factor"``): two cards that differ there ask about different things however alike
    their text; cards that differ only in numbers, structure or their own names may not."""
    return frozenset(t for i, t in enumerate(tokens)
                     if (i and tokens[i - 1] == ".") or t[:1] in "'\"" or t[:2].lower() in ("f'", 'f"', "r'", 'r"'))


def _ratio(a: Sequence[str], b: Sequence[str]) -> float:
    """difflib's similarity of two token sequences, 0..1 (cheap upper bounds first)."""
    if a == b:
        return 1.0
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if sm.real_quick_ratio() < NEAR_DUPLICATE_RATIO or sm.quick_ratio() < NEAR_DUPLICATE_RATIO:
        return 0.0
    return sm.ratio()


def _duplicates(built: Sequence[BuiltCard], config: LintConfig) -> list[Finding]:
    """Cards with the same live answer whose programs (setup, code and answer expression as tokens,
    their own names renamed) are the same, or use the same attributes and strings and are at least
    ``NEAR_DUPLICATE_RATIO`` alike."""
    out: list[Finding] = []
    groups: dict[str, list[BuiltCard]] = defaultdict(list)
    for b in built:
        if b.answer is not None:
            groups[b.answer.text.strip()].append(b)
    for same_answer in groups.values():
        programs = [_program(b.card) for b in same_answer]
        vocab = [_vocabulary(p) for p in programs]
        for j in range(1, len(same_answer)):
            b = same_answer[j]
            for i in range(j):
                a = same_answer[i]
                if config.silenced("duplicates", a.id, b.id):
                    continue
                ratio = _ratio(programs[i], programs[j]) if vocab[i] == vocab[j] else 0.0
                if ratio < NEAR_DUPLICATE_RATIO:
                    continue
                what = ("the same setup, code and answer as" if programs[i] == programs[j]
                        else f"the same answer as, and code {ratio:.0%} like,")
                out.append(_finding("duplicates", b.card,
                                    f"{what} `{a.id}` ({a.card.location}): one fact, one card "
                                    "(cite both sources on the one kept)"))
                break
    return out


# -- the whole lint -----------------------------------------------------------------------------------

def lint(
    loaded: LoadResult,
    *,
    cache: Cache,
    config: LintConfig | None = None,
    jobs: int | None = None,
    on_total: Callable[[int], None] | None = None,
    on_done: Callable[[Outcome], None] | None = None,
) -> LintResult:
    """Run the loaded cards and their variants; every check's findings, sorted by place.

    ``loaded.problems`` (cards that did not load) come back in ``problems`` beside the findings.
    """
    problems = list(loaded.problems)
    config = config or LintConfig()
    cards = list(loaded.cards)

    # One batch: each card, its seed-shifted copy and its cloze alternatives.
    batch: list[Card] = list(cards)
    shifted_at: dict[int, int] = {}
    cloze_at: dict[int, list[tuple[str, int]]] = {}
    for i, card in enumerate(cards):
        # an exercise's answer is the reference the learner's code is compared with on the same
        # seed, not a value to recall: random numbers and long tensors are fine there
        if card.kind != "exercise" and not config.silenced("random", card.id):
            shifted_at[i] = len(batch)
            batch.append(seed_shifted(card))
        if card.cloze and not config.silenced("cloze-undetermined", card.id):
            cloze_at[i] = add_variants(card, batch, left_out=True)
    if on_total:
        on_total(len(batch))
    outcomes = run_cards(batch, cache=cache, jobs=jobs, on_done=on_done)
    built = [verify(o) for o in outcomes[: len(cards)]]

    found: list[Finding] = []
    for i, (card, b) in enumerate(zip(cards, built, strict=True)):
        found.extend(_text_checks(card))
        if b.status == "failed":
            found.append(_finding("failed", card, _short(b.reason or "failed", 200)))
            continue
        if b.status == "error":
            found.append(_finding("failed", card, f"tnquiz could not run it: {_short(b.reason or '', 200)}"))
            continue
        if b.status == "skipped":
            continue
        for p in b.problems:
            found.append(_finding("contradicted", card, _short(p.split(": ", 1)[-1], 300)))
        found.extend(_answer_checks(b, card.kind))
        original = signature(outcomes[i])
        if original is None:
            continue
        if i in shifted_at:
            other = signature(outcomes[shifted_at[i]])
            if other is not None and other != original:
                found.append(_finding("random", card,
                                      f"the answer changes when every seed is shifted by one: {_shown(original)} "
                                      f"-> {_shown(other)}; ask about what does not depend on the random "
                                      f"numbers (or silence `random` for this card in {CONFIG_NAME})"))
        alternatives = [(alt, outcomes[k]) for alt, k in cloze_at.get(i, [])]
        # the build records these (every grader accepts them); only the others are a problem
        accepted = {normalize_cloze(t) for t in (card.cloze or "", *equivalents(outcomes[i], alternatives))}
        same = [alt for alt in same_result(outcomes[i], alternatives) if normalize_cloze(alt) not in accepted]
        if same:
            found.append(_finding("cloze-undetermined", card,
                                  f"the blank `{card.cloze}` is not determined by what the card shows: "
                                  + ", ".join(f"`{a}`" for a in same[:4])
                                  + (" gives" if len(same) == 1 else " give") + " the same result, "
                                  "and no answer typed into the blank stands for it"))
    found.extend(_duplicates(built, config))
    where = _common_place(cards)
    found.extend(_deck_checks(built, config, where))

    kept = [f for f in found if f.card_id is None or not config.silenced(f.check, f.card_id)]
    kept.sort(key=lambda f: (f.file, f.line, f.check))
    return LintResult(findings=tuple(kept), problems=tuple(problems), cards=len(cards),
                      skipped=sum(1 for b in built if b.status == "skipped"),
                      runs=sum(1 for o in outcomes if o.executed), silenced=len(found) - len(kept))


def _common_place(cards: Iterable[Card]) -> str:
    """Where a deck-wide finding points: the one file, or the one folder, the cards come from."""
    files = sorted({c.file for c in cards})
    if len(files) == 1:
        return files[0]
    parents = {str(Path(f).parent) for f in files}
    return (parents.pop() + "/") if len(parents) == 1 else "deck"
