"""The runner <-> worker protocol: typed messages, and strict parsing of everything read back.

The runner sends one ``Job`` per card as a JSON line on the worker's stdin; the worker answers one
``Reply`` line on its stdout, in the order the jobs were sent. Each job carries a random ``nonce`` that the worker echoes and never
passes to the card's process: a reply whose job number or nonce is not the one the runner waits
for is not trusted (a card may try to write forged lines into the protocol).

What comes back (a reply, a cache entry) is parsed with ``parse_result``, which checks every field's
type, escapes text UTF-8 cannot encode and raises ``ValueError`` for anything else: a result is
either well-formed or not used.
"""

from __future__ import annotations

import enum
import math
from dataclasses import MISSING, dataclass, fields
from typing import Any

from generator.model import Answer, BuiltCard, Card, RunError, RunResult, map_strings

#: Lines (instead of a job) that ask a worker to warm up what torch loads lazily (``WARM_UP``), or
#: that and the optimizers' machinery (``WARM_UP_OPTIM``); the worker answers ``{"warmed": true}``
#: (or ``false`` with a ``reason``) before it reads the next line.
WARM_UP = "warm-up"
WARM_UP_OPTIM = "warm-up-optim"

#: Stored stdout and answer text are capped at this many characters each.
TEXT_CAP = 64 * 1024
#: A kept ``value`` (a JSON-able Python value) larger than this, once serialised, is dropped.
VALUE_CAP = 64 * 1024


def truncate(text: str, cap: int = TEXT_CAP, dropped: int = 0) -> str:
    """``text`` cut to ``cap`` characters, marked when cut (the marker is documented in cards-json.md).

    ``dropped``: characters already left out after ``text`` (output that was never kept).
    """
    if len(text) <= cap and not dropped:
        return text
    return text[:cap] + f"\n[tnquiz: truncated, {max(0, len(text) - cap) + dropped} more characters]"


def clean_text(text: str) -> str:
    """``text`` with what UTF-8 cannot encode (lone surrogates) escaped as ``\\udXXX``."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def clean(value: Any) -> Any:
    """A JSON value with every string (keys included) passed through ``clean_text``."""
    return map_strings(value, clean_text)


class ReplyStatus(str, enum.Enum):
    OK = "ok"  # the card ran: ``result`` holds what it gave (an answer or its own error)
    SKIPPED = "skipped"  # a requirement is missing; ``cacheable`` when that cannot change by itself
    TIMEOUT = "timeout"  # the card ran past its timeout and was killed
    CRASH = "crash"  # the card's interpreter died before giving a result
    ERROR = "error"  # the worker's own machinery failed for this job


@dataclass(frozen=True)
class Job:
    """One card to run, as the worker receives it."""

    job: int
    nonce: str
    id: str
    file: str
    line: int
    setup: str = ""
    code: str = ""
    answer: str | None = None
    raises: str | None = None
    output: bool = False
    choices: tuple[str, ...] = ()
    seed: int = 0
    timeout: float = 10.0
    requires: tuple[str, ...] = ()
    device: str = "cpu"
    # a note's code run as one session (``tnquiz import``; generator/execute/session.py)
    kind: str = "card"  # "card", "session" or "grade"
    steps: tuple[dict[str, Any], ...] = ()
    step_timeout: float = 10.0
    cuda: bool = False
    # an exercise (``kind: exercise`` cards): built as a "card" job with a ``solution``; a learner's
    # ``attempt`` graded as a "grade" job against the build's ``references`` (one per setup)
    solution: str = ""
    variants: tuple[str, ...] = ()
    tolerance: float | None = None
    attempt: str = ""
    references: tuple[dict[str, Any], ...] = ()
    # provably pure (generator/execute/purity.py): it may run in the worker's reused child
    pure: bool = False

    @classmethod
    def for_session(cls, n: int, nonce: str, d: dict[str, Any]) -> Job:
        """A session job from the importer's dict (``kind``, ``file``, ``steps``, ``timeout``, ...)."""
        return cls.from_dict({"job": n, "nonce": nonce, "id": d.get("id", ""), "file": d.get("file", ""),
                              "line": d.get("line", 1), "seed": d.get("seed", 0),
                              "timeout": d.get("timeout", 10.0), "kind": "session",
                              "steps": d.get("steps", []), "step_timeout": d.get("step_timeout", 10.0),
                              "cuda": d.get("cuda", False)})

    @classmethod
    def for_card(cls, n: int, nonce: str, card: Card, device: str, timeout: float, pure: bool = False) -> Job:
        return cls(job=n, nonce=nonce, id=card.id, file=card.file, line=card.line, setup=card.setup,
                   code=card.code, answer=card.answer, raises=card.raises, output=card.output,
                   choices=tuple(card.choices), seed=card.seed, timeout=timeout,
                   requires=tuple(card.requires), device=device, solution=card.solution,
                   variants=tuple(card.variants), tolerance=card.tolerance, pure=pure)

    @classmethod
    def for_grade(cls, n: int, nonce: str, built: BuiltCard, attempt: str, timeout: float) -> Job:
        """A learner's ``attempt`` at the exercise ``built``, to compare with its stored answers (on CPU)."""
        c = built.card
        refs = tuple(a.to_dict() for a in (built.answer, *built.variant_answers) if a is not None)
        return cls(job=n, nonce=nonce, id=c.id, file=c.file, line=c.line, setup=c.setup, answer=c.answer,
                   raises=c.raises, seed=c.seed, timeout=timeout, device="cpu", kind="grade",
                   solution=c.solution, variants=tuple(c.variants), tolerance=c.tolerance,
                   attempt=attempt, references=refs)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line} [{self.id}]"

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["choices"] = list(self.choices)
        d["requires"] = list(self.requires)
        d["steps"] = list(self.steps)
        d["variants"] = list(self.variants)
        d["references"] = list(self.references)
        return d

    @classmethod
    def from_dict(cls, d: Any) -> Job:
        if not isinstance(d, dict):
            raise ValueError(f"a job must be an object, found {type(d).__name__}")
        kw: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in d:
                kw[f.name] = d[f.name]
            elif f.name in ("job", "nonce", "id", "file", "line"):
                raise ValueError(f"a job needs `{f.name}`")
            else:
                kw[f.name] = f.default if f.default is not MISSING else ()
        for k in ("variants", "references"):
            kw[k] = list(kw[k]) if isinstance(kw[k], tuple) else kw[k]
        kw["choices"], kw["requires"], kw["steps"] = (
            list(kw["choices"]) if isinstance(kw["choices"], tuple) else kw["choices"],
            list(kw["requires"]) if isinstance(kw["requires"], tuple) else kw["requires"],
            list(kw["steps"]) if isinstance(kw["steps"], tuple) else kw["steps"])
        _check(kw["kind"] in ("card", "session", "grade"), "kind", kw["kind"])
        for k in ("solution", "attempt"):
            _check(isinstance(kw[k], str), k, kw[k])
        _check(isinstance(kw["variants"], list) and all(isinstance(x, str) for x in kw["variants"]),
               "variants", kw["variants"])
        _check(isinstance(kw["references"], list) and all(isinstance(x, dict) for x in kw["references"]),
               "references", kw["references"])
        kw["variants"], kw["references"] = tuple(kw["variants"]), tuple(kw["references"])
        tol = kw["tolerance"]
        _check(tol is None or (isinstance(tol, (int, float)) and not isinstance(tol, bool) and 0 < tol < 1),
               "tolerance", tol)
        _check(kw["kind"] != "grade" or len(kw["references"]) == 1 + len(kw["variants"]), "references",
               kw["references"])
        _check(isinstance(kw["steps"], list) and all(isinstance(x, dict) for x in kw["steps"]), "steps", kw["steps"])
        kw["steps"] = tuple(kw["steps"])
        st = kw["step_timeout"]
        _check(isinstance(st, (int, float)) and not isinstance(st, bool) and math.isfinite(st) and st > 0,
               "step_timeout", st)
        _check(isinstance(kw["cuda"], bool), "cuda", kw["cuda"])
        _check(isinstance(kw["pure"], bool) and not (kw["pure"] and kw["kind"] != "card"), "pure", kw["pure"])
        _check(isinstance(kw["job"], int) and not isinstance(kw["job"], bool), "job", kw["job"])
        for k in ("nonce", "id", "file", "setup", "code", "device"):
            _check(isinstance(kw[k], str), k, kw[k])
        for k in ("answer", "raises"):
            _check(kw[k] is None or isinstance(kw[k], str), k, kw[k])
        _check(isinstance(kw["line"], int), "line", kw["line"])
        _check(isinstance(kw["seed"], int) and 0 <= kw["seed"] < 2**63, "seed", kw["seed"])
        _check(isinstance(kw["output"], bool), "output", kw["output"])
        t = kw["timeout"]
        _check(isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) and t > 0,
               "timeout", t)
        for k in ("choices", "requires"):
            _check(isinstance(kw[k], list) and all(isinstance(x, str) for x in kw[k]), k, kw[k])
            kw[k] = tuple(kw[k])
        return cls(**kw)


@dataclass(frozen=True)
class Reply:
    """The worker's answer to one job."""

    job: int
    nonce: str
    status: ReplyStatus
    result: RunResult | None = None  # with OK
    reason: str | None = None  # with SKIPPED, TIMEOUT, CRASH, ERROR: ``FILE:LINE [ID]: ...`` (skips: bare)
    cacheable: bool = False  # with SKIPPED
    session: dict[str, Any] | None = None  # with OK, for a session job: ``{"steps", "torch_version"}``
    verdict: dict[str, Any] | None = None  # with OK, for a grade job: see ``parse_verdict``

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.job, "nonce": self.nonce, "status": self.status.value,
                "result": self.result.to_dict() if self.result is not None else self.session or self.verdict,
                "reason": self.reason, "cacheable": self.cacheable}

    @classmethod
    def from_dict(cls, d: Any, kind: str = "card") -> Reply:
        """A reply to a job of ``kind`` (``card``: its result is a ``RunResult``)."""
        if not isinstance(d, dict):
            raise ValueError(f"a reply must be an object, found {type(d).__name__}")
        job, nonce = d.get("job"), d.get("nonce")
        _check(isinstance(job, int) and not isinstance(job, bool), "job", job)
        _check(isinstance(nonce, str), "nonce", nonce)
        try:
            status = ReplyStatus(d.get("status"))
        except ValueError:
            raise ValueError(f"unknown reply status {d.get('status')!r}") from None
        reason = d.get("reason")
        _check(reason is None or isinstance(reason, str), "reason", reason)
        cacheable = d.get("cacheable", False)
        _check(isinstance(cacheable, bool), "cacheable", cacheable)
        result = session = verdict = None
        if status is ReplyStatus.OK and kind == "session":
            session = parse_session(d.get("result"))
        elif status is ReplyStatus.OK and kind == "grade":
            verdict = parse_verdict(d.get("result"))
        elif status is ReplyStatus.OK:
            result = parse_result(d.get("result"))
        if status is not ReplyStatus.OK and reason is None:
            raise ValueError(f"a `{status.value}` reply needs a reason")
        return cls(job=job, nonce=nonce, status=status, result=result,  # type: ignore[arg-type]
                   reason=clean_text(reason) if reason is not None else None, cacheable=cacheable,
                   session=session, verdict=verdict)


def parse_session(d: Any) -> dict[str, Any]:
    """A session's result (``{"steps": [...], "torch_version": ...}``) from untrusted JSON data."""
    _check(isinstance(d, dict), "result", d)
    steps = d.get("steps")
    _check(isinstance(steps, list) and all(isinstance(s, dict) for s in steps), "steps", steps)
    _check(isinstance(d.get("torch_version", ""), str), "torch_version", d.get("torch_version"))
    return dict(clean(d))


def parse_verdict(d: Any) -> dict[str, Any]:
    """A grade job's result (``{"correct": bool, "message": str, "variant": int or null}``) from
    untrusted JSON data; the message is capped."""
    _check(isinstance(d, dict), "result", d)
    _check(isinstance(d.get("correct"), bool), "correct", d.get("correct"))
    _check(isinstance(d.get("message"), str), "message", d.get("message"))
    variant = d.get("variant")
    _check(variant is None or (isinstance(variant, int) and not isinstance(variant, bool)), "variant", variant)
    return {"correct": d["correct"], "message": truncate(clean_text(d["message"]), 2000), "variant": variant}


def _check(ok: bool, name: str, value: Any) -> None:
    if not ok:
        raise ValueError(f"`{name}` has the wrong type or value: {type(value).__name__} {str(value)[:60]!r}")


_ANSWER_TYPES = ("shape", "tensor", "dtype", "error", "output", "python")


def _str(d: dict[str, Any], k: str, *, optional: bool = False, default: str | None = "") -> str | None:
    v = d.get(k, None if optional else default)
    if v is None and optional:
        return None
    _check(isinstance(v, str), k, v)
    return clean_text(str(v))


def parse_answer(d: Any) -> Answer:
    _check(isinstance(d, dict), "answer", d)
    type_ = d.get("type")
    _check(type_ in _ANSWER_TYPES, "answer.type", type_)
    text = _str(d, "text", default=None)
    shape = d.get("shape")
    if shape is not None:
        _check(isinstance(shape, list) and all(isinstance(n, int) and not isinstance(n, bool) for n in shape),
               "answer.shape", shape)
    return Answer(type=type_, text=text or "", shape=tuple(shape) if shape is not None else None,
                  dtype=_str(d, "dtype", optional=True), exception=_str(d, "exception", optional=True),
                  message=_str(d, "message", optional=True), value=clean(d.get("value")),
                  device=_str(d, "device", optional=True))


def parse_result(d: Any) -> RunResult:
    """A ``RunResult`` from untrusted JSON data; ``ValueError`` for anything of the wrong shape."""
    _check(isinstance(d, dict), "result", d)
    answer = d.get("answer")
    choices = d.get("choices", [])
    _check(isinstance(choices, list), "choices", choices)
    error = d.get("error")
    run_error = None
    if error is not None:
        _check(isinstance(error, dict), "error", error)
        message = _str(error, "message", default=None)
        frames = error.get("frames", [])
        _check(isinstance(frames, list) and all(
            isinstance(f, list) and len(f) == 2 and isinstance(f[0], str) and isinstance(f[1], int)
            and not isinstance(f[1], bool) for f in frames), "error.frames", frames)
        run_error = RunError(message=message or "", frames=tuple((p, n) for p, n in frames))
    variants = d.get("variants", [])
    _check(isinstance(variants, list), "variants", variants)
    blank_passes = d.get("blank_passes", False)
    _check(isinstance(blank_passes, bool), "blank_passes", blank_passes)
    same = d.get("same_variants", [])
    _check(isinstance(same, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in same),
           "same_variants", same)
    seconds = d.get("seconds", 0.0)
    _check(isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and math.isfinite(seconds),
           "seconds", seconds)
    return RunResult(
        answer=parse_answer(answer) if answer is not None else None,
        choices=tuple(parse_answer(c) for c in choices),
        stdout=_str(d, "stdout") or "",
        error=run_error,
        torch_version=_str(d, "torch_version") or "",
        device=_str(d, "device", default="cpu") or "cpu",
        seconds=float(seconds),
        skipped=_str(d, "skipped", optional=True),
        variants=tuple(parse_answer(v) for v in variants),
        blank_passes=blank_passes,
        same_variants=tuple(same),
    )
