"""A cloze blank's plausible other fillings, and which of them give the card's live result.

A cloze card blanks part of its code (``dim=2`` in ``torch.cat((a, b), dim=2)``). Other fillings a
learner could type may give the same live result (``dim=-2`` on 4-D tensors, ``torch.inference_mode()``
for ``torch.no_grad()``). ``tnquiz build`` runs every alternative :func:`cloze_alternatives` proposes
as an extra card run (through the runner and its cache, like any card: the alternative's code is its
own cache key), records those whose result is the card's (:func:`equivalents`) in the built card's
``cloze_equivalents``, and every grader accepts them. ``tnquiz lint`` runs the same alternatives,
plus the blank's keyword argument left out (:data:`LEFT_OUT`), and warns about the ones the build
cannot record.

Torch-free: this module only rewrites card code and compares outcomes.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from generator.grading import normalize_cloze
from generator.model import Card, Outcome

#: Tokens a learner could plausibly put in a blank instead of the right one: each group's members
#: are alternatives for each other.
SIBLINGS: tuple[tuple[str, ...], ...] = (
    ("squeeze", "unsqueeze"),
    ("cat", "stack", "hstack", "vstack"),
    ("view", "reshape"),
    ("sum", "mean", "prod", "max", "min"),
    ("argmax", "argmin"),
    ("permute", "transpose"),
    ("zeros", "ones", "empty"),
    ("zeros_like", "ones_like", "empty_like"),
    ("rand", "randn"),
    ("flatten", "ravel"),
    ("detach", "clone"),
    ("softmax", "log_softmax"),
    ("relu", "sigmoid", "tanh"),
    ("eval", "train"),
    ("float", "double", "half", "long", "int", "bool"),
    ("float32", "float64", "float16", "int64", "int32", "uint8", "bool"),
    ("cpu", "cuda", "meta"),
    ("state_dict", "parameters"),
    ("no_grad", "enable_grad", "inference_mode"),
    ("item", "tolist"),
)
_SIBLING_OF: dict[str, tuple[str, ...]] = {}
for _group in SIBLINGS:
    for _name in _group:
        _SIBLING_OF[_name] = _SIBLING_OF.get(_name, ()) + tuple(n for n in _group if n != _name)

#: What :func:`cloze_variants` names the variant with the blank's keyword argument left out (its
#: default). No text typed into the blank stands for it, so the build never records it.
LEFT_OUT = "(left out)"


#: An integer in a blank may be an axis: its alternatives include the same axis counted from the
#: other end (``dim=1`` is ``dim=-2`` on a 3-D tensor) for tensors of up to this many dimensions.
MAX_NDIM = 5


def _int_alternatives(n: int) -> list[int]:
    out = [n - 1, n + 1, -n, 0, 1, 2, -1]
    out += [n - d for d in range(n + 1, MAX_NDIM + 1)] if n >= 0 else [n + d for d in range(-n, MAX_NDIM + 1)]
    return [a for i, a in enumerate(out) if a != n and a not in out[:i]]


def cloze_alternatives(cloze: str, limit: int = 24) -> list[str]:
    """Plausible other fillings of a blank: other ints for an int, True/False swapped, sibling names
    (``squeeze``/``unsqueeze``, ``cpu``/``cuda``, ...), one token changed at a time."""
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(cloze).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return []
    lines = cloze.splitlines(keepends=True) or [""]
    offsets = [0]
    for ln in lines:
        offsets.append(offsets[-1] + len(ln))
    out: list[str] = []

    def add(start: tuple[int, int], end: tuple[int, int], text: str) -> None:
        a = offsets[start[0] - 1] + start[1]
        b = offsets[end[0] - 1] + end[1]
        alt = cloze[:a] + text + cloze[b:]
        if alt != cloze and alt not in out:
            out.append(alt)

    for i, tok in enumerate(toks):
        if tok.type == tokenize.NUMBER and re.fullmatch(r"\d+", tok.string):
            negative = i > 0 and toks[i - 1].string == "-" and toks[i - 1].end == tok.start
            n = -int(tok.string) if negative else int(tok.string)
            start = toks[i - 1].start if negative else tok.start
            for alt in _int_alternatives(n):
                add(start, tok.end, str(alt))
        elif tok.type == tokenize.NAME and tok.string in ("True", "False"):
            add(tok.start, tok.end, "False" if tok.string == "True" else "True")
        elif tok.type == tokenize.NAME and tok.string in _SIBLING_OF:
            for alt_name in _SIBLING_OF[tok.string]:
                add(tok.start, tok.end, alt_name)
        elif tok.type == tokenize.STRING:
            m = re.fullmatch(r"([rbuf]*)(['\"])(.*)\2", tok.string, re.I)
            if m and m.group(3) in _SIBLING_OF:
                for alt_name in _SIBLING_OF[m.group(3)]:
                    add(tok.start, tok.end, f"{m.group(1)}{m.group(2)}{alt_name}{m.group(2)}")
    return out[:limit]


def cloze_variants(card: Card, *, left_out: bool = False) -> list[tuple[str, Card]]:
    """(what the blank holds instead, the card with that code) for every alternative of its blank.

    ``left_out``: also the card with the blank's keyword argument removed (named :data:`LEFT_OUT`),
    when the blank is one (``dim=1`` in ``f(x, dim=1)``).
    """
    if not card.cloze or card.code.count(card.cloze) != 1:
        return []
    variants = [(alt, replace(card, code=card.code.replace(card.cloze, alt)))
                for alt in cloze_alternatives(card.cloze)]
    if left_out and re.fullmatch(r"\s*[A-Za-z_]\w*\s*=[^=].*", card.cloze, re.S):
        for gone in (", " + card.cloze, ",  " + card.cloze, card.cloze + ", ", card.cloze + ","):
            if card.code.count(gone) == 1:
                variants.append((LEFT_OUT, replace(card, code=card.code.replace(gone, ""))))
                break
    return variants


def add_variants(card: Card, batch: list[Card], *, left_out: bool = False) -> list[tuple[str, int]]:
    """Append the variants of ``card``'s blank (:func:`cloze_variants`) to ``batch``, a batch for
    :func:`generator.execute.runner.run_cards`; return (alternative, its index in ``batch``)."""
    at = []
    for alt, variant in cloze_variants(card, left_out=left_out):
        at.append((alt, len(batch)))
        batch.append(variant)
    return at


def signature(outcome: Outcome) -> tuple[Any, ...] | None:
    """What a learner is told the result is; None when the card did not run (skipped, failed)."""
    res = outcome.result
    if res is None or outcome.skipped or outcome.failed or outcome.machinery or res.skipped:
        return None
    if res.error is not None:
        return ("raised", res.error.message)
    return (res.answer.text if res.answer else None, tuple(c.text for c in res.choices))


def same_result(original: Outcome, alternatives: Sequence[tuple[str, Outcome]]) -> list[str]:
    """The alternatives (as named by :func:`cloze_variants`) whose result is ``original``'s."""
    sig = signature(original)
    if sig is None:
        return []
    return [alt for alt, oc in alternatives if signature(oc) == sig]


def equivalents(original: Outcome, alternatives: Sequence[tuple[str, Outcome]]) -> tuple[str, ...]:
    """What the build records as ``cloze_equivalents``: the fillings of the blank, other than its
    own text (as graders compare it, :func:`generator.grading.normalize_cloze`), that give the
    card's result. :data:`LEFT_OUT` is never one: nothing typed into the blank stands for it."""
    own = normalize_cloze(original.card.cloze or "")
    out: list[str] = []
    seen = {own}
    for alt in same_result(original, alternatives):
        key = normalize_cloze(alt)
        if alt != LEFT_OUT and key and key not in seen:
            seen.add(key)
            out.append(alt)
    return tuple(out)


def machinery_failure(alternatives: Sequence[tuple[str, Outcome]]) -> str | None:
    """Why tnquiz itself could not run one of the alternatives (None when it ran them all)."""
    for alt, oc in alternatives:
        if oc.machinery:
            return f"the alternative `{alt}` of its blank: {oc.machinery}"
    return None
