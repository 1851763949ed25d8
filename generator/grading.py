"""Lenient grading of a typed answer against a verified answer.

The same rules run in the browser (``templates/html/grade.js``); both are checked against one table of
cases, ``tests/data/grading_cases.json``. They are also how ``expect`` is compared with the live answer.

Rules, by card kind:

- ``shape``: any common notation of the same dimensions: ``(2, 3)``, ``[2,3]``, ``2x3``, ``2 × 3``,
  ``torch.Size([2, 3])``; ``()``/``[]``/``torch.Size([])`` for a scalar.
- ``dtype``: with or without ``torch.``, case-insensitive, aliases allowed (``float`` is ``float32``,
  ``long`` is ``int64``, ...).
- ``error``: the exception type name (with or without a module path), or ``Type: message``.
- ``choice``: the 1-based number of the right option, or its exact text.
- ``cloze``: the hidden text, or one of the card's ``cloze_equivalents`` (other fillings the build
  verified to give the same live result), ignoring spaces and quote style (:func:`normalize_cloze`).
- ``output``: the printed text, ignoring differences in whitespace.
- ``value``: a number within a tolerance (relative 1e-3, absolute 5e-4); a tensor as its numbers in
  order (``tensor(...)``, brackets and ``dtype=...`` optional), each within that tolerance; ``True`` /
  ``False`` case-insensitive; anything else as text, ignoring whitespace and surrounding quotes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

REL_TOL = 1e-3
ABS_TOL = 5e-4

DTYPE_ALIASES = {
    "float": "float32",
    "half": "float16",
    "double": "float64",
    "long": "int64",
    "int": "int32",
    "short": "int16",
    "cfloat": "complex64",
    "cdouble": "complex128",
    "chalf": "complex32",
    "bool": "bool",
}

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan")


@dataclass(frozen=True)
class Verdict:
    correct: bool
    expected: str  # what the learner is shown as the right answer

    def __bool__(self) -> bool:
        return self.correct


def parse_shape(text: str) -> tuple[int, ...] | None:
    """``torch.Size([2, 3])``, ``(2, 3)``, ``[2,3]``, ``2x3``, ``2 × 3``, ``2 3`` -> ``(2, 3)``."""
    s = text.strip().lower()
    s = re.sub(r"^torch\.size\s*\(", "", s)
    s = re.sub(r"^size\s*\(", "", s)
    s = s.strip().strip("()[] ")
    s = s.replace(")", "").replace("(", "").replace("]", "").replace("[", "")
    if not s:
        return ()
    parts = [p for p in re.split(r"\s*(?:,|x|×|\*)\s*|\s+", s) if p != ""]
    dims = [_to_int(p) for p in parts]
    if any(d is None for d in dims):
        return None
    return tuple(d for d in dims if d is not None)


#: Longer digit strings are never a valid dimension or option number. The cap keeps ``int()`` clear of
#: Python's configurable int/str conversion limit (640 digits at the least), so the result does not
#: depend on interpreter settings, and the browser grader (grade.js) can give the same verdict.
_MAX_INT_CHARS = 100


def _to_int(text: str) -> int | None:
    """``int(text)`` for text of at most ``_MAX_INT_CHARS`` characters, else ``None``."""
    if len(text) > _MAX_INT_CHARS:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def normalize_dtype(text: str) -> str:
    s = text.strip().lower().strip("'\"`")
    s = re.sub(r"^torch\.", "", s)
    return DTYPE_ALIASES.get(s, s)


def parse_numbers(text: str) -> list[float] | None:
    s = text.strip()
    s = re.sub(r",?\s*dtype\s*=\s*[\w.]+", "", s)
    s = re.sub(r",?\s*device\s*=\s*'?[\w:]+'?", "", s)
    s = re.sub(r",?\s*requires_grad\s*=\s*\w+", "", s)
    s = re.sub(r",?\s*grad_fn\s*=\s*<[^>]*>", "", s)
    s = re.sub(r"^tensor\s*\(", "", s.lower())
    rest = _NUMBER.sub(" ", s)
    if re.search(r"[^\s\[\]\(\),]", rest):
        return None
    found = _NUMBER.findall(s)
    if not found:
        return None
    return [float(x) for x in found]


def close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= max(ABS_TOL, REL_TOL * abs(b))


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, list):
        out: list[Any] = []
        for v in value:
            out.extend(_flatten(v))
        return out
    return [value]


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _unquote(text: str) -> str:
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"`":
        return t[1:-1]
    return t


def _exception_name(text: str) -> str:
    return text.strip().split(":", 1)[0].strip().split(".")[-1].lower()


def _number_of(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return None


def normalize_cloze(text: str) -> str:
    """A cloze answer as graders compare it: without whitespace, ``"`` read as ``'``."""
    return _squash(text).replace('"', "'")


def grade(kind: str, answer: dict[str, Any], typed: str, options: list[dict[str, Any]] | None = None,
          cloze: str | None = None, equivalents: Sequence[str] = ()) -> Verdict:
    """Is ``typed`` a right answer for a card of ``kind`` whose verified answer is ``answer``?

    ``answer`` is the ``answer`` object of ``cards.json`` (``Answer.to_dict()``); ``options`` the
    card's ``options`` (choice cards), ``cloze`` its blanked text and ``equivalents`` its
    ``cloze_equivalents`` (cloze cards).
    """
    typed = typed.strip()
    expected = answer.get("text", "") if answer else ""
    if kind == "choice" and options:
        right = [i for i, o in enumerate(options) if o.get("correct")]
        expected = options[right[0]]["text"] if right else expected
        if typed.isdecimal():  # not isdigit(): "²" is a digit that int() refuses
            n = _to_int(typed)
            return Verdict(n is not None and n - 1 in right, expected)
        return Verdict(any(_squash(typed) == _squash(options[i]["text"]) for i in right), expected)
    if kind == "cloze" and cloze is not None:
        mine = normalize_cloze(typed)
        return Verdict(bool(typed) and any(mine == normalize_cloze(c) for c in (cloze, *equivalents)), cloze)
    return Verdict(matches(answer, typed), expected)


def matches(answer: dict[str, Any], typed: str) -> bool:
    """Does ``typed`` state the same thing as the verified ``answer``? (kind taken from the answer)"""
    typed = typed.strip()
    if not typed:
        return False
    atype = answer.get("type")
    text = answer.get("text", "")
    if atype == "shape":
        return parse_shape(typed) == tuple(answer.get("shape") or ())
    if atype == "dtype":
        return normalize_dtype(typed) == normalize_dtype(answer.get("dtype") or text)
    if atype == "error":
        exc = (answer.get("exception") or "").lower()
        if _exception_name(typed) != exc:
            return False
        if ":" in typed:  # "Type: message" must carry the message too
            return _squash(typed.split(":", 1)[1]) in _squash(answer.get("message") or "")
        return True
    if atype == "output":
        return _squash(typed) == _squash(text)
    if atype == "tensor":
        nums = parse_numbers(typed)
        value = answer.get("value")
        if nums is None or value is None:
            return _squash(typed) == _squash(text)
        flat = _flatten(value)
        if len(flat) != len(nums):
            return False
        return all(close(n, float(v)) for n, v in zip(nums, flat, strict=True))
    # python values
    value = answer.get("value")
    if isinstance(value, bool):
        return typed.lower() == str(value).lower()
    num = _number_of(value)
    if num is not None:
        nums = parse_numbers(typed)
        return nums is not None and len(nums) == 1 and close(nums[0], num)
    if isinstance(value, list) and value and all(_number_of(v) is not None for v in _flatten(value)):
        nums = parse_numbers(typed)
        flat = _flatten(value)
        return nums is not None and len(nums) == len(flat) and all(
            close(n, float(v)) for n, v in zip(nums, flat, strict=True))
    if isinstance(value, str):
        return _unquote(typed) == value or _squash(typed) == _squash(text)
    return _squash(typed) == _squash(text)
