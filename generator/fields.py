"""The card fields, as one table: name, type, default, ``params`` substitution, validator, doc.

The loader works from ``FIELDS`` alone (what is known, required, defaultable, substituted, and how
each value is checked); the README's "Card fields" table lists exactly these fields (a test checks
it). A validator takes the YAML value (``None`` never reaches it: a null field counts as left out)
and returns the value the ``Card`` holds, or raises ``Bad`` with an `expected ..., found ...` text.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from generator.model import DEVICES, KINDS, REQUIREMENTS

ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")
TAG_RE = re.compile(r"\S+")
EXCEPTION_RE = re.compile(r"[A-Za-z_][\w.]*")
MAX_ID = 200
MAX_SEED = 2**32 - 1  # numpy's limit; torch and random accept it too
MAX_TIMEOUT = 600.0
#: The most cards one card entry may expand to through ``params``.
MAX_EXPANSION = 1000


class Bad(ValueError):
    """A field's value is not what the field takes; the message is `expected ..., found ...`."""


def type_name(v: Any) -> str:
    if v is None:
        return "nothing (null)"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number"}.get(type(v), type(v).__name__)


def found(v: Any) -> str:
    """``v`` as the end of a message: its type and, for a scalar, a bounded repr."""
    if isinstance(v, (dict, list)) or v is None:
        return type_name(v)
    text = repr(v)
    return f"{type_name(v)} {text if len(text) <= 80 else text[:77] + '...'}"


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # what the field takes, in words
    default: Any
    params: bool  # `{name}` placeholders of `params` are substituted in it
    check: Callable[[Any], Any]
    doc: str
    required: bool = False
    defaultable: bool = True  # may be set under the file's `defaults:`
    text: bool = False  # a plain scalar is taken as written (`id: yes`, `question: 3` are text)


def _string(v: Any) -> str:
    if not isinstance(v, str):
        raise Bad(f"expected a string, found {found(v)}")
    return v


def _id(v: Any) -> str:
    if not isinstance(v, str) or not ID_RE.fullmatch(v) or len(v) > MAX_ID:
        raise Bad(f"expected lowercase letters, digits, `-`, `_` or `.` (starting with a letter or digit), found {found(v) if not isinstance(v, str) else repr(v)}")
    return v


def _question(v: Any) -> str:
    if not _string(v).strip():
        raise Bad("expected some text, found an empty string")
    return str(v)


def _expression(v: Any) -> str:
    """A Python expression; a YAML number (``answer: 0``) is the expression of that number."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return repr(v)
    if not isinstance(v, str):
        raise Bad(f"expected a Python expression as a string, found {found(v)}; quote it")
    if not v.strip():
        raise Bad("expected a Python expression, found an empty string")
    return v


def _raises(v: Any) -> str:
    if not isinstance(v, str) or not EXCEPTION_RE.fullmatch(v):
        raise Bad(f"expected an exception type name such as `RuntimeError`, found {found(v)}")
    return v


def _output(v: Any) -> bool:
    if not isinstance(v, bool):
        raise Bad(f"expected `true`, found {found(v)}")
    return v


def hint(name: str, known: Sequence[str]) -> str:
    """` (did you mean `x`?)` for the closest of ``known``, or nothing."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _one_of(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if not isinstance(v, str):
            raise Bad(f"expected one of {', '.join(options)}, found {found(v)}")
        if v not in options:
            raise Bad(f"expected one of {', '.join(options)}, found {found(v)[len('a string '):]}{hint(v, options)}")
        return v
    return check


def _choices(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not v:
        raise Bad(f"expected a non-empty list of expressions (strings), found {found(v)}")
    out = []
    for c in v:
        try:
            out.append(_expression(c))
        except Bad:
            hint = " (a `[...]` inside a flow list is not YAML: write a block list, one `- item` per line)" if isinstance(c, dict) else "; quote it"
            raise Bad(f"expected every option to be an expression (a string), found {found(c)}{hint}") from None
    return tuple(out)


def _cloze(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise Bad(f"expected a piece of `code` to blank out, found {found(v)}")
    return v


def _expect(v: Any) -> Any:
    """Text, a number, a boolean or a list of those: what a JSON file and the grader can hold."""
    todo = [v]
    while todo:
        x = todo.pop()
        if isinstance(x, list):
            todo.extend(x)
        elif isinstance(x, float) and not math.isfinite(x):
            raise Bad(f"expected a value (text, number, list), found {found(x)}; quote it")
        elif x is not None and not isinstance(x, (str, int, float, bool)):
            raise Bad(f"expected a value (text, number, list), found {found(x)}")
    return v


def _tags(v: Any) -> tuple[str, ...]:
    value = [v] if isinstance(v, str) else v
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise Bad(f"expected a list of strings, found {found(v)}")
    bad = [t for t in value if not TAG_RE.fullmatch(t)]
    if bad:
        raise Bad(f"expected tags without spaces (Anki splits on spaces), found {bad[0]!r}")
    return tuple(value)


def _params(v: Any) -> dict[str, list[Any]]:
    if not isinstance(v, dict) or not v:
        raise Bad(f"expected a mapping of names to lists of values, found {found(v)}")
    total = 1
    for name, values in v.items():
        if not name.isidentifier():
            raise Bad(f"expected identifier names, found {name!r}")
        if not isinstance(values, list) or not values:
            raise Bad(f"expected `{name}` to be a non-empty list of values, found {found(values)}")
        if bad := [x for x in values if x is None or isinstance(x, (dict, list))]:
            raise Bad(f"expected `{name}` to list plain values (text, numbers), found {found(bad[0])}")
        total *= len(values)
    if total > MAX_EXPANSION:
        sizes = " x ".join(str(len(x)) for x in v.values())
        raise Bad(f"expected at most {MAX_EXPANSION} cards from one entry, found {sizes} = {total} combinations")
    return v


def _requires(v: Any) -> tuple[str, ...]:
    value = [v] if isinstance(v, str) else v
    if not isinstance(value, list) or any(not isinstance(r, str) or r not in REQUIREMENTS for r in value):
        raise Bad(f"expected a list of {', '.join(REQUIREMENTS)}, found {found(v) if not isinstance(v, list) else repr(v)[:80]}")
    return tuple(value)


def _seed(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_SEED:
        raise Bad(f"expected an integer from 0 to 2**32-1, found {found(v)}")
    return v


def _timeout(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 < v <= MAX_TIMEOUT):
        raise Bad(f"expected a number of seconds above 0 and at most {MAX_TIMEOUT:g}, found {found(v)}")
    return float(v)  # NaN fails the range test above


def _variants(v: Any) -> tuple[str, ...]:
    value = [v] if isinstance(v, str) else v
    if not isinstance(value, list) or not value or not all(isinstance(x, str) and x.strip() for x in value):
        raise Bad(f"expected a list of setups (Python code as strings), found {found(v) if not isinstance(v, list) else repr(v)[:80]}")
    return tuple(value)


def _tolerance(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 < v < 1):
        raise Bad(f"expected a number above 0 and below 1 (values compared with `allclose` at this tolerance), found {found(v)}")
    return float(v)


FIELDS: tuple[Field, ...] = (
    Field("id", "id", None, True, _id, "the card's identity (Anki GUID, review key, cache entry); unique", required=True, defaultable=False, text=True),
    Field("question", "text", None, True, _question, "the text shown", required=True, text=True),
    Field("code", "Python", "", True, _string, "the snippet shown to the learner", text=True),
    Field("setup", "Python", "", True, _string, "code run before `code`, shown as \"Given\"", text=True),
    Field("answer", "expression", None, True, _expression, "an expression whose live value is the answer"),
    Field("raises", "exception name", None, True, _raises, "the exception type the code must raise"),
    Field("output", "boolean", False, False, _output, "`true`: what the code prints is the answer"),
    Field("kind", "kind", None, False, _one_of(KINDS), "the card's kind; inferred where left out"),
    Field("choices", "list of expressions", (), True, _choices, "distractor expressions for a multiple-choice card"),
    Field("cloze", "text", None, True, _cloze, "the piece of `code` blanked out", text=True),
    Field("expect", "value", None, True, _expect, "the author's claim, checked against the live answer"),
    Field("explain", "text", "", True, _string, "shown with the answer: why it is so", text=True),
    Field("tags", "list of tags", (), False, _tags, "tags added to the file's `tags`"),
    Field("source", "text", "", False, _string, "where the fact comes from", text=True),
    Field("params", "mapping of lists", None, False, _params, "one card per combination of values", defaultable=False),
    Field("requires", "list", (), False, _requires, "what the card needs; skipped where one is missing"),
    Field("device", "device", "cpu", False, _one_of(DEVICES), "where the card runs"),
    Field("seed", "integer", 0, False, _seed, "seeds torch, random and numpy"),
    Field("timeout", "seconds", 10.0, False, _timeout, "how long the card may run"),
    Field("solution", "Python", "", True, _string, "an exercise: the reference code the learner's code replaces", text=True),
    Field("variants", "list of setups", (), True, _variants, "an exercise: more setups the learner's code must also pass"),
    Field("hint", "text", "", True, _string, "an exercise: shown with the solution after an attempt", text=True),
    Field("tolerance", "number", None, False, _tolerance, "an exercise: compare values with `allclose` at this tolerance"),
)
BY_NAME = {f.name: f for f in FIELDS}
NAMES = tuple(BY_NAME)
