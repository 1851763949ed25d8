"""Stage 3: turn run outcomes into verified cards, and check the author's claims against them.

Pure and torch-free: the same code decides the status of a fresh result and of a cached one.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace

from generator.grading import matches
from generator.model import Answer, BuiltCard, Card, Option, Outcome, RunError, RunResult

_KIND_OF_TYPE = {"shape": "shape", "dtype": "dtype", "error": "error", "output": "output"}


def infer_kind(answer: Answer) -> str:
    return _KIND_OF_TYPE.get(answer.type, "value")


def _shuffled(card_id: str, options: list[Option]) -> tuple[Option, ...]:
    seed = int(hashlib.sha256(card_id.encode()).hexdigest()[:16], 16)
    out = list(options)
    random.Random(seed).shuffle(out)
    return tuple(out)


def expect_holds(expect: object, answer: Answer) -> bool:
    """A YAML value equal to the live value (a list for a tuple, say), or text the grader accepts."""
    if not isinstance(expect, str) and answer.value is not None and expect == answer.value:
        return True
    return matches(answer.to_dict(), _expect_text(expect))


def _expect_text(expect: object) -> str:
    if isinstance(expect, bool):
        return str(expect)
    return expect if isinstance(expect, str) else repr(expect)


def verify(outcome: Outcome) -> BuiltCard:
    card = outcome.card
    where = f"{card.location} [{card.id}]"
    if outcome.machinery:
        return BuiltCard(card=card, status="error", reason=outcome.machinery, ran_on=outcome.device)
    if outcome.skipped:
        return BuiltCard(card=card, status="skipped", reason=outcome.skipped, ran_on=outcome.device,
                         cached=outcome.cached)
    if outcome.failed or outcome.result is None:
        return BuiltCard(card=card, status="failed", reason=outcome.failed or f"{where}: no result",
                         ran_on=outcome.device)
    res = outcome.result
    common = {"stdout": res.stdout, "torch_version": res.torch_version, "ran_on": res.device,
              "cached": outcome.cached}
    if res.error is not None or res.answer is None:
        reason = format_error(card, res.error) if res.error else f"{where}: no answer"
        return BuiltCard(card=card, status="failed", reason=reason, **common)  # type: ignore[arg-type]
    answer = res.answer
    if not card.kind:
        card = replace(card, kind=infer_kind(answer))
    options: tuple[Option, ...] = ()
    if card.choices:
        opts = [Option(answer.text, True, card.answer or "")]
        opts += [Option(a.text, False, expr) for a, expr in zip(res.choices, card.choices, strict=True)]
        seen: dict[str, str] = {}
        for o in opts:
            if o.text in seen:
                return BuiltCard(card=card, status="failed", answer=answer, **common,  # type: ignore[arg-type]
                                 reason=f"{where}: choices: expected every option to differ, found `{o.expr}` and `{seen[o.text]}` both give {o.text!r}")
            seen[o.text] = o.expr
        options = _shuffled(card.id, opts)
    if card.kind == "exercise":
        lint = _exercise_problems(card, res)
        if lint:
            return BuiltCard(card=card, status="failed", answer=answer, reason="\n".join(lint), **common)  # type: ignore[arg-type]
    problems: list[str] = []
    if card.expect is not None and not expect_holds(card.expect, answer):
        at = f"{card.file}:{card.expect_line or card.line} [{card.id}]"
        problems.append(f"{at}: expect contradicted by PyTorch\nExpected:\n    {_indent(_expect_text(card.expect))}\nGot:\n    {_indent(answer.text)}")
    return BuiltCard(card=card, status="contradicted" if problems else "ok", answer=answer, options=options, problems=tuple(problems),
                     variant_answers=res.variants, **common)  # type: ignore[arg-type]


def _exercise_problems(card: Card, res: RunResult) -> list[str]:
    """The build-time checks of an exercise: it must test something."""
    out = []
    if len(res.variants) != len(card.variants):
        out.append(f"{card.location} [{card.id}]: expected a reference answer for each of the {len(card.variants)} variants, found {len(res.variants)}")
    if res.blank_passes:
        out.append(f"{card.file}:{card.solution_line or card.line} [{card.id}]: a blank answer passes: "
                   "expected `answer` to need the learner's code (with no code at all it already equals the solution's)")
    for i in res.same_variants:
        out.append(f"{card.file}:{card.variants_line or card.line} [{card.id}]: variant {i} tests nothing: "
                   "expected it to change the result, found the same answer as an earlier input")
    return out


def _indent(text: str) -> str:
    return text.rstrip("\n").replace("\n", "\n    ")


def format_error(card: Card, error: RunError) -> str:
    """``file:line [id]: message`` and the card's frames, at the lines of the YAML file as it is now."""
    starts = {"setup": card.setup_line, "code": card.code_line, "answer": card.answer_line,
              "solution": card.solution_line}
    texts = {"setup": card.setup, "code": card.code, "answer": card.answer or "", "solution": card.solution}
    lines = []
    for part, n in error.frames:
        start = starts.get(part) or card.line
        src_lines = texts.get(part, "").splitlines()
        src = src_lines[n - 1].strip() if 0 < n <= len(src_lines) else ""
        lines.append((start + n - 1, src))
    at = lines[-1][0] if lines else card.line
    out = [f"{card.file}:{at} [{card.id}]: {error.message}"]
    out += [f"  {card.file}:{ln}: {src}" for ln, src in lines]
    return "\n".join(out)
