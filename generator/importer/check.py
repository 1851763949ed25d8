"""Tie the import stages together: parse notes, run one session per note, judge every claim."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.importer.compare import VERDICTS, Verdict, compare
from generator.importer.parse import Claim, Note, parse_note

#: Seconds one step of a note may run; the whole session gets this per step it runs, plus a margin.
STEP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Checked:
    """One claim with its verdict."""

    note: Note
    claim: Claim
    verdict: Verdict
    actual_answer: dict[str, Any] | None  # the live value (``describe()``) or output, for drafts

    @property
    def code(self) -> str:
        return "\n".join(self.note.steps[i].code for i in self.claim.steps)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.note.path, "line": self.claim.line, "code": self.code,
                "claimed": self.claim.claimed, "actual": self.verdict.actual,
                "verdict": self.verdict.verdict, "reason": self.verdict.reason}


@dataclass(frozen=True)
class ImportResult:
    checked: tuple[Checked, ...]
    notes: tuple[Note, ...]
    torch_version: str
    failed_steps: dict[str, frozenset[int]]  # per note: steps that raised or were skipped

    def summary(self) -> dict[str, int]:
        counts = Counter(c.verdict.verdict for c in self.checked)
        return {"claims": len(self.checked), **{v: counts[v] for v in VERDICTS}}


def session_job(note: Note, cuda: bool) -> dict[str, Any] | None:
    """The worker job running what the note's claims need; None when no claim needs code."""
    run: set[int] = set()
    for claim in note.claims:
        run.update(note.needs(claim))
    if not run:
        return None
    steps = [{"line": s.line, "code": s.code, "mode": s.mode, "uses": list(s.uses),
              "defines": list(s.defines), "error": s.error, "run": s.index in run}
             for s in note.steps[:max(run) + 1]]
    return {"kind": "session", "file": note.path, "line": 1, "id": Path(note.path).stem,
            "seed": 0, "cuda": cuda, "step_timeout": STEP_TIMEOUT,
            "timeout": 20.0 + STEP_TIMEOUT * len(run), "steps": steps}


def import_notes(paths: Sequence[Path], *, cuda: bool, jobs: int | None = None,
                 texts: dict[Path, str] | None = None) -> ImportResult:
    from generator.execute.runner import run_sessions

    notes = [parse_note(p, (texts or {}).get(p)) for p in paths]
    planned = [(n, session_job(n, cuda)) for n in notes]
    to_run = [(n, j) for n, j in planned if j is not None]
    replies = run_sessions([j for _, j in to_run], jobs) if to_run else []
    by_note: dict[str, dict[str, Any]] = {n.path: r for (n, _), r in zip(to_run, replies, strict=True)}
    checked: list[Checked] = []
    failed: dict[str, frozenset[int]] = {}
    version = ""
    for note in notes:
        reply = by_note.get(note.path, {})
        result = reply.get("result") or {}
        version = result.get("torch_version", version)
        steps = result.get("steps")
        failed[note.path] = frozenset(i for i, r in enumerate(steps or []) if r.get("error") or r.get("skipped"))
        for claim in note.claims:
            if not claim.steps:
                checked.append(Checked(note, claim, Verdict("unchecked", "", claim.reason), None))
                continue
            if steps is None:
                why = reply.get("reason") or "the note's session gave no result"
                checked.append(Checked(note, claim, Verdict("error", "", why), None))
                continue
            results = [steps[i] for i in claim.steps]
            if not any(r.get("skipped") for r in results):
                # a step the claim needs was skipped: say so rather than blame the claim's own line
                dep = next((steps[i] for i in note.needs(claim) if steps[i].get("skipped")
                            and steps[i]["skipped"] != "not needed by any claim"), None)
                if dep is not None and any((r.get("error") or {}).get("exception") == "NameError"
                                           for r in results):
                    results = [dep]
            verdict = compare(claim.target, claim.claimed, results)
            last = results[-1] if results else {}
            answer = last.get("value") if claim.target in ("value", "shape", "doctest") else None
            if answer is None and not last.get("error"):
                answer = {"type": "output", "text": "".join(r.get("stdout") or "" for r in results)}
            checked.append(Checked(note, claim, verdict, answer))
    return ImportResult(tuple(checked), tuple(notes), version, failed)
