"""Data passed between pipeline stages.

Every stage takes and returns these frozen dataclasses; the ones that are saved (the result cache,
``cards.json``) round-trip through ``to_dict``/``from_dict``. This module imports nothing heavy: the
quiz reads ``cards.json`` through it without touching torch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any, Literal

#: Bumped whenever the meaning of a cached result or of ``cards.json`` changes.
FORMAT_VERSION = 1

KINDS = ("shape", "value", "dtype", "error", "output", "choice", "cloze", "exercise")
DEVICES = ("cpu", "cuda", "auto")
REQUIREMENTS = ("cuda", "torchvision", "numpy")

#: A built card's state. ``contradicted``: it ran, and its ``expect`` is not what PyTorch gives.
#: ``error``: tnquiz's own machinery failed for it (never cached; the command exits non-zero).
Status = Literal["ok", "contradicted", "failed", "skipped", "error"]


def map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    """A JSON-like value with ``fn`` applied to every string in it, dict keys included."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {(fn(k) if isinstance(k, str) else k): map_strings(v, fn) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Location:
    """Where something came from: a file and a 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Problem:
    """A user-caused error, always with its location and (when known) the card id."""

    location: Location
    card_id: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.location}"
        if self.card_id:
            where += f" [{self.card_id}]"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Card:
    """One card after loading, validation and ``params`` expansion (stage 1 output)."""

    id: str
    deck: str
    file: str
    line: int
    question: str
    kind: str
    setup: str = ""
    code: str = ""
    setup_line: int = 0  # YAML line of the first line of `setup` (0: none)
    code_line: int = 0  # YAML line of the first line of `code`
    answer_line: int = 0  # YAML line of `answer`
    expect_line: int = 0  # YAML line of the `expect:` key (0: none)
    answer: str | None = None  # an expression, evaluated after setup + code
    raises: str | None = None  # an exception type name the code must raise
    output: bool = False  # True: captured stdout is the answer
    choices: tuple[str, ...] = ()  # distractor expressions (options are their executed values)
    cloze: str | None = None  # a substring of `code` that is blanked out
    expect: Any = None  # the author's claim, checked against the live answer
    explain: str = ""
    tags: tuple[str, ...] = ()
    source: str = ""
    # (note file, title) of each note `source` names, from the sources table (generator/sources.py)
    source_titles: tuple[tuple[str, str], ...] = ()
    requires: tuple[str, ...] = ()
    device: str = "cpu"
    seed: int = 0
    timeout: float = 10.0
    # `kind: exercise`: the learner writes code in place of `solution`, checked on `setup` and on
    # each of `variants` (more setups) by comparing `answer` (or the raised type) with the solution's.
    solution: str = ""
    solution_line: int = 0  # YAML line of the first line of `solution`
    variants: tuple[str, ...] = ()
    variants_line: int = 0  # YAML line of the `variants` key
    hint: str = ""
    tolerance: float | None = None  # None: values must be equal (`torch.equal`)

    @property
    def location(self) -> Location:
        return Location(self.file, self.line)

    def run_spec(self) -> dict[str, Any]:
        """Everything that determines the answer, and nothing else (prose is left out)."""
        return {
            "setup": self.setup,
            "code": self.code,
            "answer": self.answer,
            "raises": self.raises,
            "output": self.output,
            "choices": list(self.choices),
            "seed": self.seed,
            # exercise fields only where set: every other card keeps its cache key
            **({"solution": self.solution, "variants": list(self.variants), "tolerance": self.tolerance}
               if self.solution else {}),
        }

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["choices"] = list(self.choices)
        d["tags"] = list(self.tags)
        d["requires"] = list(self.requires)
        d["variants"] = list(self.variants)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Card:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        for k in ("choices", "tags", "requires", "variants"):
            kw[k] = tuple(kw.get(k) or ())
        return cls(**kw)


@dataclass(frozen=True)
class Answer:
    """A live value, rendered for people (``text``) and broken down for grading.

    ``type`` is one of ``shape`` (a ``torch.Size``), ``tensor``, ``dtype``, ``error`` (an exception),
    ``output`` (captured stdout), ``python`` (any other value: ``value`` holds it when it is
    JSON-able, ``text`` always holds its repr).
    """

    type: str
    text: str
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    exception: str | None = None
    message: str | None = None
    value: Any = None
    device: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type, "text": self.text}
        for k in ("dtype", "exception", "message", "value", "device"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        if self.shape is not None:
            d["shape"] = list(self.shape)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Answer:
        shape = d.get("shape")
        return cls(
            type=d["type"],
            text=d["text"],
            shape=tuple(shape) if shape is not None else None,
            dtype=d.get("dtype"),
            exception=d.get("exception"),
            message=d.get("message"),
            value=d.get("value"),
            device=d.get("device"),
        )


@dataclass(frozen=True)
class RunError:
    """The card's code raised where it should not have (or did not raise where it should have).

    Location-free, so that it can be cached: ``frames`` are ``(part, line)`` with ``part`` one of
    ``setup``, ``code``, ``answer`` and ``line`` counted within that part. ``verify`` maps them onto
    the YAML file as it is now.
    """

    message: str
    frames: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message, "frames": [list(f) for f in self.frames]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunError:
        return cls(message=d["message"], frames=tuple((str(p), int(n)) for p, n in d.get("frames", ())))


@dataclass(frozen=True)
class RunResult:
    """What the worker saw for one card: the answer, the options' values, the printed output.

    ``error`` is set when the card's code raised where no exception was asked for (or did not raise
    where one was): that is a real, cacheable result (the code is wrong), unlike a timeout or a
    crash, which never reach here.
    """

    answer: Answer | None
    choices: tuple[Answer, ...] = ()
    stdout: str = ""
    error: RunError | None = None
    torch_version: str = ""
    device: str = "cpu"
    seconds: float = 0.0
    skipped: str | None = None  # a required package is installed but cannot be imported
    # an exercise: the solution's answer on each of `variants`, and the build's checks on them
    variants: tuple[Answer, ...] = ()
    blank_passes: bool = False  # setup + answer with no code at all gives the solution's answer
    same_variants: tuple[int, ...] = ()  # 1-based variants whose answer equals an earlier one's

    def to_dict(self) -> dict[str, Any]:
        return {
            "variants": [v.to_dict() for v in self.variants],
            "blank_passes": self.blank_passes,
            "same_variants": list(self.same_variants),
            "skipped": self.skipped,
            "answer": self.answer.to_dict() if self.answer else None,
            "choices": [c.to_dict() for c in self.choices],
            "stdout": self.stdout,
            "error": self.error.to_dict() if self.error else None,
            "torch_version": self.torch_version,
            "device": self.device,
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunResult:
        return cls(
            answer=Answer.from_dict(d["answer"]) if d.get("answer") else None,
            choices=tuple(Answer.from_dict(c) for c in d.get("choices", ())),
            stdout=d.get("stdout", ""),
            error=RunError.from_dict(d["error"]) if d.get("error") else None,
            torch_version=d.get("torch_version", ""),
            device=d.get("device", "cpu"),
            seconds=float(d.get("seconds", 0.0)),
            skipped=d.get("skipped"),
            variants=tuple(Answer.from_dict(v) for v in d.get("variants", ())),
            blank_passes=bool(d.get("blank_passes", False)),
            same_variants=tuple(int(i) for i in d.get("same_variants", ())),
        )


@dataclass(frozen=True)
class Outcome:
    """What running one card came to: exactly one of a result (fresh or cached), a skip, a failure
    of the card (timeout, crash: never cached) or a failure of tnquiz's machinery (never cached)."""

    card: Card
    device: str
    result: RunResult | None = None
    skipped: str | None = None
    failed: str | None = None  # the card timed out or crashed its interpreter
    machinery: str | None = None  # tnquiz itself failed (worker protocol, cache write, ...)
    cached: bool = False
    executed: bool = False  # a worker ran it now (so torch was imported)


@dataclass(frozen=True)
class Option:
    """One multiple-choice option as shown: the executed value and whether it is the right one."""

    text: str
    correct: bool
    expr: str

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "correct": self.correct, "expr": self.expr}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Option:
        return cls(text=d["text"], correct=bool(d["correct"]), expr=d.get("expr", ""))


@dataclass(frozen=True)
class BuiltCard:
    """A card with its verified answer and status: one entry of ``cards.json``."""

    card: Card
    status: Status
    reason: str | None = None
    answer: Answer | None = None
    options: tuple[Option, ...] = ()
    stdout: str = ""
    torch_version: str = ""
    ran_on: str = ""
    cached: bool = False
    problems: tuple[str, ...] = field(default=())  # check failures (expect mismatches, ...)
    variant_answers: tuple[Answer, ...] = ()  # an exercise: the solution's answer on each variant
    # a cloze card: other fillings of the blank that the build ran and found to give the same live
    # result (generator/cloze.py); every grader accepts them
    cloze_equivalents: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.card.id

    @cached_property  # a frozen card: made once (the render asks for it four times a card)
    def answer_hash(self) -> str:
        """Changes exactly when what a learner is told is the answer changes."""
        payload = {
            "answer": self.answer.text if self.answer else None,
            "options": [o.to_dict() for o in self.options],
            "cloze": self.card.cloze,
        }
        if self.card.solution:  # only here: every other card keeps its hash (and its review history)
            payload["solution"] = self.card.solution
        blob = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        c = self.card
        spec: dict[str, Any] = {}
        if c.answer is not None:
            spec["answer"] = c.answer
        if c.raises is not None:
            spec["raises"] = c.raises
        if c.output:
            spec["output"] = True
        if c.choices:
            spec["choices"] = list(c.choices)
        if c.cloze is not None:
            spec["cloze"] = c.cloze
        if c.solution:
            spec["solution"] = c.solution
            spec["variants"] = list(c.variants)
            spec["tolerance"] = c.tolerance
        return {
            "id": c.id,
            "deck": c.deck,
            "file": c.file,
            "line": c.line,
            "tags": list(c.tags),
            "kind": c.kind,
            "question": c.question,
            "setup": c.setup,
            "code": c.code,
            "spec": spec,
            "expect": c.expect,
            "explain": c.explain,
            "source": c.source,
            "source_titles": dict(c.source_titles),
            "requires": list(c.requires),
            "device": c.device,
            "seed": c.seed,
            "status": self.status,
            "reason": self.reason,
            "answer": self.answer.to_dict() if self.answer else None,
            "options": [o.to_dict() for o in self.options],
            "cloze": c.cloze,
            **({"cloze_equivalents": list(self.cloze_equivalents)} if c.cloze is not None else {}),
            "stdout": self.stdout,
            "torch_version": self.torch_version,
            "ran_on": self.ran_on,
            "answer_hash": self.answer_hash,
            "problems": list(self.problems),
            **({"hint": c.hint, "timeout": c.timeout,
                "variant_answers": [a.to_dict() for a in self.variant_answers]} if c.solution else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BuiltCard:
        spec = d.get("spec", {})
        card = Card(
            id=d["id"],
            deck=d["deck"],
            file=d.get("file", ""),
            line=int(d.get("line", 0)),
            question=d["question"],
            kind=d["kind"],
            setup=d.get("setup", ""),
            code=d.get("code", ""),
            answer=spec.get("answer"),
            raises=spec.get("raises"),
            output=bool(spec.get("output", False)),
            choices=tuple(spec.get("choices", ())),
            cloze=spec.get("cloze"),
            expect=d.get("expect"),
            explain=d.get("explain", ""),
            tags=tuple(d.get("tags", ())),
            source=d.get("source", ""),
            source_titles=_source_titles(d.get("source_titles", {})),
            requires=tuple(d.get("requires", ())),
            device=d.get("device", "cpu"),
            seed=int(d.get("seed", 0)),
            solution=spec.get("solution", "") or "",
            variants=tuple(spec.get("variants", ())),
            tolerance=spec.get("tolerance"),
            hint=d.get("hint", ""),
            timeout=float(d.get("timeout", 10.0)),
        )
        _check_exercise(card)
        return cls(
            card=card,
            status=d["status"],
            reason=d.get("reason"),
            answer=Answer.from_dict(d["answer"]) if d.get("answer") else None,
            options=tuple(Option.from_dict(o) for o in d.get("options", ())),
            stdout=d.get("stdout", ""),
            torch_version=d.get("torch_version", ""),
            ran_on=d.get("ran_on", ""),
            problems=tuple(d.get("problems", ())),
            variant_answers=tuple(Answer.from_dict(a) for a in d.get("variant_answers", ())),
            cloze_equivalents=_cloze_equivalents(card, d.get("cloze_equivalents", [])),
        )


@dataclass(frozen=True)
class Graded:
    """The verdict on a learner's attempt at an exercise, from the worker. ``correct`` is None when
    it could not be graded (``message`` says why); else ``message`` says what differed, or that
    nothing did."""

    correct: bool | None
    message: str


def _source_titles(v: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(v, dict) or not all(isinstance(k, str) and isinstance(t, str) for k, t in v.items()):
        raise ValueError(f"source_titles must map note files to titles, found {type(v).__name__}")
    return tuple(v.items())


def _cloze_equivalents(card: Card, v: Any) -> tuple[str, ...]:
    """A cloze card's ``cloze_equivalents`` as read from ``cards.json``: graders compare typed text
    with them, so they must be what the build writes (a ValueError names what is not)."""
    if not isinstance(v, list) or not all(isinstance(t, str) and t.strip() for t in v):
        raise ValueError(f"card {card.id!r}: cloze_equivalents must be a list of non-empty texts, found {v!r}")
    if v and not isinstance(card.cloze, str):
        raise ValueError(f"card {card.id!r}: cloze_equivalents given, but the card has no cloze")
    return tuple(v)


def _check_exercise(card: Card) -> None:
    """An exercise read from ``cards.json`` is sent to the worker: its parts must be what the loader
    would have made (a ValueError names the first that is not)."""
    if not isinstance(card.solution, str) or not isinstance(card.hint, str):
        raise ValueError(f"card {card.id!r}: solution and hint must be text")
    if not all(isinstance(v, str) for v in card.variants):
        raise ValueError(f"card {card.id!r}: variants must be a list of text")
    tol = card.tolerance
    if tol is not None and (isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1):
        raise ValueError(f"card {card.id!r}: tolerance must be a number above 0 and below 1, found {tol!r}")
    if not 0 < card.timeout <= 600:  # NaN fails too
        raise ValueError(f"card {card.id!r}: timeout must be above 0 and at most 600 seconds, found {card.timeout!r}")


@dataclass(frozen=True)
class Deck:
    """The whole build: what ``cards.json`` holds."""

    cards: tuple[BuiltCard, ...]
    generator: str = ""
    torch_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "generator": self.generator,
            "torch_version": self.torch_version,
            "cards": [c.to_dict() for c in self.cards],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Deck:
        fmt = d.get("format")
        if fmt != FORMAT_VERSION:
            raise ValueError(f"cards.json format {fmt!r} is not supported (expected {FORMAT_VERSION})")
        return cls(
            cards=tuple(BuiltCard.from_dict(c) for c in d["cards"]),
            generator=d.get("generator", ""),
            torch_version=d.get("torch_version", ""),
        )
