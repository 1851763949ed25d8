"""The verdicts of ``tnquiz import`` as text (doctest-like) or as one JSON document."""

from __future__ import annotations

import json
import textwrap

from generator.importer.check import ImportResult


def _block(label: str, text: str) -> str:
    text = text.rstrip("\n") or "(nothing)"
    return f"  {label}:\n" + textwrap.indent(text, "      ")


def text_report(result: ImportResult) -> str:
    parts = []
    for c in result.checked:
        head = f"{c.note.path}:{c.claim.line}: {c.verdict.verdict}"
        lines = [head]
        if c.code:
            lines.append(_block("code", c.code))
        lines.append(_block("claimed", c.claim.claimed))
        if c.verdict.actual:
            lines.append(_block(f"PyTorch {result.torch_version}".rstrip(), c.verdict.actual))
        if c.verdict.reason:
            lines.append(f"  why: {c.verdict.reason}")
        parts.append("\n".join(lines))
    s = result.summary()
    parts.append(summary_line(s))
    return "\n\n".join(parts) + "\n"


def summary_line(s: dict[str, int]) -> str:
    rest = ", ".join(f"{s[k]} {k}" for k in s if k != "claims")
    return f"{s['claims']} claims in the notes: {rest}"


def json_report(result: ImportResult) -> str:
    doc = {"torch": result.torch_version, "claims": [c.to_dict() for c in result.checked],
           "summary": result.summary()}
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
