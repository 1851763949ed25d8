"""Draft card files from checked claims: ``DIR/<note-stem>.yaml``, valid for ``tnquiz check`` as-is.

One card per claim (an ``unchecked`` claim has no code to run and gets none). The ``id`` comes from
the note's stem, the heading and the claim's position under it, so it is stable when the note is
re-imported. ``expect`` holds the note's claim wherever the lenient rules of the quizzes can judge it,
so that ``tnquiz check`` reports every contradiction as an ``expect`` mismatch.

The first line of a draft records a hash of the text below it. Re-importing overwrites a draft only
while that hash still matches (nobody edited it); an edited draft is left alone and the new draft is
written beside it as ``<note-stem>.new.yaml``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator.api import plural
from generator.atomic import write_text
from generator.grading import matches
from generator.importer.check import Checked, ImportResult
from generator.importer.compare import claimed_exception
from generator.importer.parse import Note

HEADER = "# tnquiz import draft of {note}; sha256 of the text below: {digest}. Edit freely: re-import then writes beside it.\n"
_DIGEST = re.compile(r"^# tnquiz import draft of .*; sha256 of the text below: ([0-9a-f]{64})\.")


@dataclass(frozen=True)
class Written:
    note: str
    path: Path
    cards: int
    status: str  # "new", "updated", "unchanged", "beside" (the draft was edited: written beside it), "none"
    edited: Path | None = None

    def message(self) -> str:
        if self.status == "none":
            return f"{self.note}: no claim tied to code, no draft"
        if self.status == "beside":
            return (f"{self.edited}: edited since it was drafted, left as it is; "
                    f"wrote the new draft beside it: {self.path} ({plural(self.cards, 'card')})")
        return f"{self.path}: {self.status} ({plural(self.cards, 'card')})"


def slug(text: str, limit: int = 40) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")
    if not s and text.strip():
        s = "h" + hashlib.sha1(text.strip().encode()).hexdigest()[:8]
    return s


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    if style:
        data = "\n".join(line.rstrip() for line in data.split("\n"))
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def card_for(c: Checked, card_id: str, torch_version: str, failed: frozenset[int] = frozenset()) -> dict[str, Any]:
    note, claim, v = c.note, c.claim, c.verdict
    own = [note.steps[i] for i in claim.steps]
    shown = {i for other in note.claims if len(other.steps) == 1 for i in other.steps}
    # the context a card needs: not steps that failed, printed, or only showed a value
    setup_steps = [note.steps[i] for i in note.needs(claim) if i not in claim.steps and i not in failed
                   and i not in shown and note.steps[i].mode != "syntax" and "print(" not in note.steps[i].code]
    code = "\n".join(s.code for s in own).strip()
    heading = claim.heading.strip() or Path(note.path).stem
    card: dict[str, Any] = {"id": card_id}
    setup = "\n".join(s.code for s in setup_steps).strip()
    exc = claimed_exception(claim.claimed)
    raised = v.verdict in ("confirmed", "contradicted") and exc is not None and v.actual and \
        v.actual.split(":", 1)[0].strip().isidentifier() and \
        re.match(r"^[A-Z]\w*(Error|Exception|Warning|Interrupt|Exit)\b", v.actual)
    expr = code if len(own) == 1 and own[0].mode == "eval" else None
    if raised:
        card["question"] = f"{heading}: what does this code raise?"
        fields: dict[str, Any] = {"code": code, "raises": v.actual.split(":", 1)[0].strip()}
        answer: dict[str, Any] | None = {"type": "error", "exception": fields["raises"],
                                         "message": v.actual.split(":", 1)[-1].strip()}
    elif expr is not None and claim.target in ("value", "shape", "doctest"):
        shape = claim.target == "shape"
        card["question"] = (f"{heading}: what is the shape of `{expr}`?" if shape
                            else f"{heading}: what does `{expr}` give?")
        fields = {"answer": f"({expr}).shape" if shape else expr}
        answer = c.actual_answer
        if shape and answer is not None and answer.get("shape") is not None:
            answer = {"type": "shape", "shape": answer["shape"], "text": f"torch.Size({answer['shape']})"}
    else:
        card["question"] = f"{heading}: what does this code print?"
        fields = {"code": code, "output": True}
        answer = c.actual_answer if (c.actual_answer or {}).get("type") == "output" else None
    if setup:
        card["setup"] = setup
    card.update(fields)
    explain = ""
    claimed = claim.claimed.strip()
    judged = answer is not None and (matches(answer, claimed) == (v.verdict == "confirmed"))
    if v.verdict in ("confirmed", "contradicted") and judged:
        card["expect"] = claimed if not raised else (exc or claimed)
    elif v.verdict in ("confirmed", "contradicted") and raised:
        card["expect"] = exc
    elif v.verdict == "confirmed":
        explain = f"The note wrote it as:\n{claimed}"
    elif v.verdict == "error":
        card["expect"] = claimed
    if v.verdict == "contradicted":
        explain = (f"The note claims:\n{claimed}\nbut PyTorch {torch_version} gives:\n{v.actual.strip()}"
                   + (f"\n({v.reason})" if v.reason else ""))
    elif v.verdict == "random":
        explain = (f"The note showed (its values come from an unseeded random generator):\n{claimed}")
    elif v.verdict == "error":
        explain = f"The note shows:\n{claimed}\nbut the code raises {v.actual.strip()} on PyTorch {torch_version}."
    elif v.verdict == "skipped":
        explain = f"Not checked on import ({v.reason}). The note claims:\n{claimed}"
        if "GPU" in v.reason:
            card["requires"] = ["cuda"]
        for pkg in ("torchvision", "numpy"):
            if f"`{pkg}`" in v.reason:
                card["requires"] = [pkg]
        if "expect" not in card and answer is None:
            card["expect"] = claimed
    if explain:
        card["explain"] = explain
    card["source"] = f"{Path(note.path).name}#{heading}" + f" (line {claim.line})"
    return card


def draft_text(note: Note, checked: list[Checked], torch_version: str,
               failed: frozenset[int] = frozenset(), stem: str = "") -> tuple[str, int]:
    stem = slug(stem or Path(note.path).stem, 60) or "note"
    seen: dict[str, int] = {}
    cards = []
    left_out = []
    for c in checked:
        if not c.claim.steps:
            continue
        bad = next((note.steps[i] for i in c.claim.steps if note.steps[i].mode == "syntax"), None)
        if bad is not None:  # a card must compile: say why there is none, where the card would be
            left_out.append(f"# {Path(note.path).name}:{c.claim.line}: no card: its code does not compile "
                            f"(line {bad.line}: {bad.error})\n")
            continue
        h = slug(c.claim.heading) or "note"
        seen[h] = seen.get(h, 0) + 1
        cards.append(card_for(c, f"{stem}-{h}-{seen[h]}", torch_version, failed))
    doc = {"deck": f"Imported::{Path(note.path).stem}", "tags": ["imported"], "cards": cards}
    body = "".join(left_out) + yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)
    return body, len(cards)


def write_drafts(result: ImportResult, out: Path) -> list[Written]:
    written = []
    stems: set[str] = set()
    for note in result.notes:
        checked = [c for c in result.checked if c.note is note]
        if not any(c.claim.steps for c in checked):
            written.append(Written(note.path, out, 0, "none"))
            continue
        stem = Path(note.path).stem
        if stem in stems:  # `a/x.md` and `b/x.md`: one draft (and one set of ids) each
            stem = f"{Path(note.path).parent.name}-{stem}"
        stems.add(stem)
        body, n = draft_text(note, checked, result.torch_version,
                             result.failed_steps.get(note.path, frozenset()), stem)
        text = HEADER.format(note=Path(note.path).name,
                             digest=hashlib.sha256(body.encode()).hexdigest()) + body
        target = out / f"{stem}.yaml"
        if not target.exists():
            write_text(target, text)
            written.append(Written(note.path, target, n, "new"))
            continue
        old = target.read_text(encoding="utf-8", errors="replace")
        first, _, old_body = old.partition("\n")
        m = _DIGEST.match(first)
        if m and hashlib.sha256(old_body.encode()).hexdigest() == m.group(1):
            if old == text:
                written.append(Written(note.path, target, n, "unchanged"))
            else:
                write_text(target, text)
                written.append(Written(note.path, target, n, "updated"))
            continue
        beside = out / f"{stem}.new.yaml"
        write_text(beside, text)
        written.append(Written(note.path, beside, n, "beside", edited=target))
    return written
