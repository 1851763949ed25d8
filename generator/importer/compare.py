"""A note's claim vs what PyTorch really gives -> a verdict (torch-free).

The lenient rules of :mod:`generator.grading` come first (shapes in any notation, dtypes with or without
``torch.``, whitespace, a small float tolerance). On top of them:

- printed text (and tensors printed by another torch version) matches when its words and brackets are
  the same once whitespace is ignored and its numbers agree within the tolerance;
- an exception claimed by its type name (or a traceback's last line) matches the type raised;
- a result that differs between two runs seeded differently is ``random``: only its printed structure
  (brackets, words, how many numbers; so shape and dtype) is compared, never the digits.

Precision comes before recall: ``contradicted`` means the claim is wrong on this torch, never merely
written differently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from generator.grading import _NUMBER, close, matches, parse_shape

VERDICTS = ("confirmed", "contradicted", "random", "error", "skipped", "unchecked")

_EXC_LINE = re.compile(r"^\s*(?:[\w.]+\.)?([A-Z]\w*(?:Error|Exception|Warning|Interrupt|Exit))\b(?::.*)?$")


@dataclass(frozen=True)
class Verdict:
    verdict: str
    actual: str
    reason: str = ""


def claimed_exception(claimed: str) -> str | None:
    """``RuntimeError: ...`` or a pasted traceback -> ``RuntimeError``; None if no exception is claimed."""
    lines = [ln for ln in claimed.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    if lines[0].strip().startswith("Traceback"):
        for ln in reversed(lines):
            m = _EXC_LINE.match(ln)
            if m:
                return m.group(1)
        return None
    m = _EXC_LINE.match(lines[0]) if len(lines) == 1 else None
    return m.group(1) if m else None


def skeleton(text: str) -> str:
    """Text without whitespace, every number replaced by ``N``: the printed structure."""
    return _NUMBER.sub("N", re.sub(r"\s+", "", text))


def _near(claimed: str, actual: str) -> bool:
    """Equal within the grading tolerance, or within the precision the note printed ``claimed`` at
    (``0.76`` for ``0.7576``: another print precision is not a wrong claim)."""
    x, y = float(claimed), float(actual)
    if close(x, y):
        return True
    mantissa, _, exp = claimed.lower().partition("e")
    decimals = len(mantissa.split(".", 1)[1]) if "." in mantissa else 0
    if decimals == 0:  # `1.` or `3`: torch prints integral values exactly
        return False
    half_unit = 0.5 * 10.0 ** (-decimals + (int(exp) if exp.lstrip("+-").isdigit() else 0))
    return abs(x - y) <= half_unit * 1.001


def same_numbers(claimed: str, actual: str) -> bool:
    """Same words and brackets (whitespace ignored), numbers equal within the tolerance."""
    if skeleton(claimed) != skeleton(actual):
        return False
    a = _NUMBER.findall(re.sub(r"\s+", "", claimed))
    b = _NUMBER.findall(re.sub(r"\s+", "", actual))
    return len(a) == len(b) and all(_near(x, y) for x, y in zip(a, b, strict=True))


_OLD_TENSOR = re.compile(r"^\s*\[torch\.(?:cuda\.)?\w*Tensor of size [\dx]+(?: \(GPU \d+\))?\]\s*$", re.MULTILINE)


def old_style_numbers(claimed: str) -> list[str] | None:
    """The numbers of a tensor as torch < 0.4 printed it (``Variable containing:``, rows of numbers,
    ``[torch.FloatTensor of size 2x3]``); None for any other text."""
    if not _OLD_TENSOR.search(claimed):
        return None
    body = _OLD_TENSOR.sub("", claimed.replace("Variable containing:", ""))
    body = re.sub(r"\(\d+ ?,.*?\) ?=", "", body)  # the `(0 ,.,.) =` headers of 3-d and larger tensors
    nums = _NUMBER.findall(body)
    if re.sub(r"[\s,]", "", _NUMBER.sub("", body)):
        return None
    return nums


#: Words that output is made of, whatever the values: a claim naming other words (``(B, C, H, W)``,
#: ``1. switch to eval mode``) that the real output does not contain describes, it does not state.
_OUTPUT_WORDS = {
    "tensor", "torch", "size", "dtype", "device", "grad_fn", "requires_grad", "true", "false", "none",
    "nan", "inf", "cpu", "cuda", "parameter", "containing", "variable", "of", "x", "e", "layout",
    "strided", "float", "double", "half", "long", "int", "short", "bool", "cfloat", "cdouble", "gpu",
    "floattensor", "longtensor", "doubletensor", "inttensor", "bytetensor", "array", "shape",
}
_WORD = re.compile(r"[^\W\d_][\w]*|[\u4e00-\u9fff]+")


def symbolic_words(claimed: str, actual: str) -> list[str]:
    """Words of ``claimed`` that are neither in ``actual`` nor words output is made of."""
    def words(text: str) -> set[str]:
        text = re.sub(r"\b(?:u?int|float|complex|bfloat)\d+\b|<\w+>|\w+Backward\d*", " ", text)
        return {w.lower() for w in _WORD.findall(_NUMBER.sub(" ", text))}
    return sorted(words(claimed) - words(actual) - _OUTPUT_WORDS)


def _contradicted(claimed: str, actual: str, reason: str = "") -> Verdict:
    """``contradicted``, unless the claim is a description rather than a value, or nothing came out."""
    if not actual.strip():
        return Verdict("unchecked", actual, "the code gives nothing (no value, no printed text) to compare with")
    symbolic = symbolic_words(claimed, actual)
    if symbolic:
        names = ", ".join(f"`{w}`" for w in symbolic[:4])
        return Verdict("unchecked", actual, f"the claim names {names}, which the output does not contain: "
                                            "it describes the result rather than stating it")
    return Verdict("contradicted", actual, reason)


def _printed(claimed: str, actual: str, random: bool) -> Verdict:
    if matches({"type": "output", "text": actual}, claimed) or same_numbers(claimed, actual):
        return Verdict("confirmed", actual)
    old = old_style_numbers(claimed)
    if old is not None and not random:
        got = _NUMBER.findall(re.sub(r"dtype=\S+|device=\S+", "", actual))
        ok = len(old) == len(got) and all(_near(x, y) for x, y in zip(old, got, strict=True))
        why = "the note shows an old torch print format: only the numbers were compared"
        return Verdict("confirmed", actual, why) if ok else _contradicted(claimed, actual, why)
    if random:
        if skeleton(claimed) == skeleton(actual):
            return Verdict("random", actual, "the values come from an unseeded random generator: "
                                             "only the printed structure (shape, dtype) was compared")
        return _contradicted(claimed, actual, "the values are random, but the printed structure "
                                              "(shape or dtype) differs too")
    sq_claim, sq_actual = re.sub(r"\s+", "", claimed), re.sub(r"\s+", "", actual)
    if len(sq_claim) >= 8 and sq_claim in sq_actual:
        return Verdict("confirmed", actual, "the note shows a part of the output")
    return _contradicted(claimed, actual)


def compare(target: str, claimed: str, results: list[dict[str, Any]]) -> Verdict:
    """Compare a claim with the results of its steps (``session.py`` results, in order)."""
    skipped = next((r["skipped"] for r in results if r.get("skipped")), None)
    if skipped:
        return Verdict("skipped", "", skipped)
    random = any(r.get("random") for r in results)
    exc = claimed_exception(claimed)
    error = next((r["error"] for r in results if r.get("error")), None)
    if error is not None:
        if exc is not None:
            ok = exc.lower() == (error.get("exception") or "").lower()
            return Verdict("confirmed" if ok else "contradicted", error["text"])
        return Verdict("error", error["text"], "the code raised where the note shows output")
    stdout = "".join(r.get("stdout") or "" for r in results)
    last = results[-1] if results else {}
    value = last.get("value")
    if exc is not None:
        shown = (value or {}).get("text") or stdout
        return Verdict("contradicted", shown, f"the note claims `{exc}`, but the code ran without raising")
    if target == "shape":
        shape = (value or {}).get("shape")
        if shape is None:
            return Verdict("unchecked", (value or {}).get("text", stdout), "the value has no shape")
        claimed_shape = parse_shape(claimed)
        if claimed_shape is None:
            return Verdict("unchecked", str(tuple(shape)), "the claimed shape could not be read")
        ok = list(claimed_shape) == list(shape)
        return Verdict("confirmed" if ok else "contradicted", f"torch.Size({list(shape)})")
    if target == "doctest":
        shown = stdout + ((value or {}).get("text", "") if value else "")
        return _printed(claimed, shown.rstrip("\n"), random)
    if target == "value" and value is not None:
        if matches(value, claimed):
            return Verdict("confirmed", value["text"])
        verdict = _printed(claimed, value["text"], random)
        if verdict.verdict == "contradicted" and value.get("type") == "python" and "value" not in value:
            # a repr of an object that holds nothing comparable (an id, an address) is not a claim we can judge
            return Verdict("unchecked", value["text"], "the value has no comparable form")
        return verdict
    return _printed(claimed, stdout.rstrip("\n"), random)
