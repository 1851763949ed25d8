"""Stage 1: YAML card files -> validated, ``params``-expanded ``Card`` objects.

Every problem is collected (never raised) with its file, line and card id, so a user sees all of
them at once, and one bad card never keeps the others from building.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator.model import DEVICES, KINDS, REQUIREMENTS, Card, Location, Problem

try:  # libyaml is much faster; the pure-Python loader gives the same nodes and marks
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

DECK_FIELDS = ("deck", "tags", "defaults", "cards")
CARD_FIELDS = (
    "id", "question", "code", "setup", "answer", "raises", "output", "kind", "choices", "cloze",
    "expect", "explain", "tags", "source", "params", "requires", "device", "seed", "timeout",
)
NOT_DEFAULTABLE = ("id", "params")
SUBSTITUTED = ("id", "question", "setup", "code", "answer", "raises", "cloze", "explain")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
TAG_RE = re.compile(r"^\S+$")
DECK_RE = re.compile(r"^[^:]+(::[^:]+)*$")


@dataclass(frozen=True)
class LoadResult:
    cards: tuple[Card, ...]
    problems: tuple[Problem, ...]
    files: tuple[str, ...] = ()


class _Node:
    """A YAML value with the line it starts on (1-based) and, for mappings, each key's line."""

    __slots__ = ("key_lines", "line", "value")

    def __init__(self, value: Any, line: int, key_lines: dict[str, int] | None = None) -> None:
        self.value = value
        self.line = line
        self.key_lines = key_lines or {}


_constructor = yaml.SafeLoader("")


_STD_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("map", "seq", "str", "int", "float", "bool", "null",
                                                   "timestamp", "binary", "merge", "value")}


def _to_node(node: yaml.Node) -> _Node:
    line = node.start_mark.line + 1
    if node.tag not in _STD_TAGS:
        raise yaml.constructor.ConstructorError(None, None, f"unsupported tag {node.tag!r}", node.start_mark)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, _Node] = {}
        key_lines: dict[str, int] = {}
        for k, v in node.value:
            key = _constructor.construct_object(k, deep=True)
            child = _to_node(v)
            out[key] = child
            key_lines[str(key)] = k.start_mark.line + 1
        return _Node(out, line, key_lines)
    if isinstance(node, yaml.SequenceNode):
        return _Node([_to_node(v) for v in node.value], line)
    value = _constructor.construct_object(node, deep=True)
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        line += 1  # a block scalar's text starts on the line after the indicator
    return _Node(value, line)


def _plain(n: _Node) -> Any:
    if isinstance(n.value, dict):
        return {k: _plain(v) for k, v in n.value.items()}
    if isinstance(n.value, list):
        return [_plain(v) for v in n.value]
    return n.value


def _type_name(v: Any) -> str:
    if v is None:
        return "nothing (null)"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number"}.get(type(v), type(v).__name__)


def _hint(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    """Card files named by ``paths`` (files, or folders searched for ``*.yaml``/``*.yml``), in order."""
    files: list[Path] = []
    problems: list[Problem] = []
    for p in paths:
        if p.is_dir():
            found = sorted([*p.rglob("*.yaml"), *p.rglob("*.yml")])
            if not found:
                problems.append(Problem(Location(str(p), 0), None, "expected YAML card files (*.yaml) in this folder, found none"))
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            problems.append(Problem(Location(str(p), 0), None, "no such file or folder"))
    return files, problems


def display_path(path: Path, root: Path | None = None) -> str:
    """The path as shown in messages: relative to ``root`` (the bundled deck's parent) or the cwd."""
    resolved = path.resolve()
    for base in ([root] if root else []) + [Path.cwd()]:
        try:
            return str(resolved.relative_to(base.resolve()))
        except ValueError:
            continue
    return str(path)


def load(paths: Sequence[Path], *, root: Path | None = None) -> LoadResult:
    files, problems = discover(paths)
    cards: list[Card] = []
    seen: dict[str, Card] = {}
    shown_files: list[str] = []
    for path in files:
        shown = display_path(path, root)
        shown_files.append(shown)
        file_cards, file_problems = load_file(path, shown)
        problems.extend(file_problems)
        for card in file_cards:
            if card.id in seen:
                other = seen[card.id]
                problems.append(Problem(card.location, card.id,
                                        f"duplicate id: expected ids unique across all files, found `{card.id}` also at {other.location}"))
                continue
            seen[card.id] = card
            cards.append(card)
    return LoadResult(tuple(cards), tuple(problems), tuple(shown_files))


def load_file(path: Path, shown: str) -> tuple[list[Card], list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return [], [Problem(Location(shown, 0), None, f"cannot read the file: {e}")]
    try:
        root_node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        return [], [Problem(Location(shown, line), None, f"invalid YAML: {e.problem or e}")]
    except yaml.YAMLError as e:  # pragma: no cover - every libyaml error is marked
        return [], [Problem(Location(shown, 0), None, f"invalid YAML: {e}")]
    if root_node is None:
        return [], [Problem(Location(shown, 1), None, "expected a mapping with `deck` and `cards`, found an empty file")]
    try:
        doc = _to_node(root_node)
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else root_node.start_mark.line + 1
        return [], [Problem(Location(shown, line), None, f"invalid YAML value: {e.problem}")]
    return _FileLoader(shown, doc).run()


class _FileLoader:
    def __init__(self, shown: str, doc: _Node) -> None:
        self.shown = shown
        self.doc = doc
        self.problems: list[Problem] = []

    def problem(self, line: int, card_id: str | None, message: str) -> None:
        self.problems.append(Problem(Location(self.shown, line), card_id, message))

    def run(self) -> tuple[list[Card], list[Problem]]:
        doc = self.doc
        if not isinstance(doc.value, dict):
            self.problem(doc.line, None, f"expected a mapping with `deck` and `cards`, found {_type_name(_plain(doc))}")
            return [], self.problems
        for key in doc.value:
            if key not in DECK_FIELDS:
                hint = _hint(str(key), DECK_FIELDS)
                if not hint and str(key) in CARD_FIELDS:
                    hint = " (card fields go under `cards:` or `defaults:`)"
                self.problem(doc.key_lines.get(str(key), doc.line), None, f"unknown file field `{key}`{hint}; expected one of: {', '.join(DECK_FIELDS)}")
        deck = self._deck(doc)
        file_tags = self._tags(doc.value.get("tags"), None)
        defaults = self._defaults(doc.value.get("defaults"))
        cards_node = doc.value.get("cards")
        if cards_node is None:
            self.problem(doc.line, None, "missing `cards`: expected a list of cards")
            return [], self.problems
        if not isinstance(cards_node.value, list):
            self.problem(cards_node.line, None, f"`cards`: expected a list of cards, found {_type_name(_plain(cards_node))}")
            return [], self.problems
        out: list[Card] = []
        for node in cards_node.value:
            out.extend(self._card(node, deck, file_tags, defaults))
        if deck is None:
            return [], self.problems
        return out, self.problems

    def _deck(self, doc: _Node) -> str | None:
        node = doc.value.get("deck")
        if node is None:
            self.problem(doc.line, None, "missing `deck`: expected a deck name such as `PyTorch::Tensors::Shapes`")
            return None
        if not isinstance(node.value, str) or not DECK_RE.match(node.value.strip()):
            self.problem(node.line, None, f"`deck`: expected a name like `PyTorch::Tensors`, found {node.value!r}")
            return None
        return "::".join(part.strip() for part in node.value.split("::"))

    def _tags(self, node: _Node | None, card_id: str | None) -> tuple[str, ...]:
        if node is None:
            return ()
        value = _plain(node)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            self.problem(node.line, card_id, f"`tags`: expected a list of strings, found {_type_name(value)}")
            return ()
        bad = [t for t in value if not TAG_RE.match(t)]
        if bad:
            self.problem(node.line, card_id, f"`tags`: expected tags without spaces (Anki splits on spaces), found {bad[0]!r}")
            return ()
        return tuple(value)

    def _defaults(self, node: _Node | None) -> dict[str, _Node]:
        if node is None:
            return {}
        if not isinstance(node.value, dict):
            self.problem(node.line, None, f"`defaults`: expected a mapping of card fields, found {_type_name(_plain(node))}")
            return {}
        out: dict[str, _Node] = {}
        for key, child in node.value.items():
            line = node.key_lines.get(str(key), node.line)
            if key in NOT_DEFAULTABLE:
                self.problem(line, None, f"`defaults`: `{key}` cannot have a default; set it on each card")
            elif key not in CARD_FIELDS:
                self.problem(line, None, f"`defaults`: unknown card field `{key}`{_hint(str(key), CARD_FIELDS)}")
            else:
                out[str(key)] = child
        return out

    def _card(self, node: _Node, deck: str | None, file_tags: tuple[str, ...],
              defaults: dict[str, _Node]) -> list[Card]:
        if not isinstance(node.value, dict):
            self.problem(node.line, None, f"expected a card (a mapping with `id` and `question`), found {_type_name(_plain(node))}")
            return []
        fields_ = node.value
        id_node = fields_.get("id")
        raw_id = id_node.value if id_node is not None else None
        label = str(raw_id) if raw_id is not None else None
        before = len(self.problems)
        for key in fields_:
            if key not in CARD_FIELDS:
                self.problem(node.key_lines.get(str(key), node.line), label,
                             f"unknown field `{key}`{_hint(str(key), CARD_FIELDS)}")
        if id_node is None:
            self.problem(node.line, None, "missing `id`: every card needs a unique id (lowercase letters, digits, `-`, `_`, `.`)")
            return []
        merged: dict[str, _Node] = dict(defaults)
        merged.update({str(k): v for k, v in fields_.items() if k in CARD_FIELDS})
        params = self._params(merged.get("params"), label)
        if params is None:
            return []
        combos = [dict(zip(params, values, strict=True)) for values in itertools.product(*params.values())] if params else [{}]
        cards: list[Card] = []
        for combo in combos:
            card = self._one(node, merged, combo, deck, file_tags, label)
            if card is not None:
                cards.append(card)
        if params and len({c.id for c in cards}) < len(cards):
            self.problem(id_node.line, label, f"`params`: expected `id` to use a placeholder ({', '.join('{' + p + '}' for p in params)}) so every expansion has its own id, found {raw_id!r}")
            return []
        if len(self.problems) > before:
            return []
        return cards

    def _params(self, node: _Node | None, label: str | None) -> dict[str, list[Any]] | None:
        if node is None:
            return {}
        value = _plain(node)
        if not isinstance(value, dict) or not value:
            self.problem(node.line, label, f"`params`: expected a mapping of names to lists of values, found {_type_name(value)}")
            return None
        out: dict[str, list[Any]] = {}
        for name, values in value.items():
            if not isinstance(name, str) or not name.isidentifier():
                self.problem(node.line, label, f"`params`: expected identifier names, found {name!r}")
                return None
            if not isinstance(values, list) or not values:
                self.problem(node.line, label, f"`params.{name}`: expected a non-empty list of values, found {_type_name(values)}")
                return None
            out[name] = values
        return out

    def _one(self, node: _Node, merged: dict[str, _Node], combo: dict[str, Any], deck: str | None,
             file_tags: tuple[str, ...], label: str | None) -> Card | None:
        def sub(value: Any) -> Any:
            if not combo or not isinstance(value, str):
                return value
            return re.sub(r"\{(" + "|".join(map(re.escape, combo)) + r")\}", lambda m: str(combo[m.group(1)]), value)

        vals: dict[str, Any] = {}
        lines: dict[str, int] = {}
        for key, child in merged.items():
            v = _plain(child)
            if key in SUBSTITUTED:
                v = sub(v)
            elif key == "choices" and isinstance(v, list):
                v = [sub(x) for x in v]
            elif key == "expect":
                v = [sub(x) for x in v] if isinstance(v, list) else sub(v)
            vals[key] = v
            lines[key] = child.line
        card_id = vals.get("id")
        label = card_id if isinstance(card_id, str) else label
        bad = len(self.problems)

        def err(key: str, message: str) -> None:
            self.problem(lines.get(key, node.line), label, message)

        def text(key: str, required: bool = False) -> str:
            v = vals.get(key)
            if v is None:
                if required:
                    err(key, f"missing `{key}`")
                return ""
            if not isinstance(v, str):
                err(key, f"`{key}`: expected a string, found {_type_name(v)} {v!r}")
                return ""
            return v

        if not isinstance(card_id, str) or not ID_RE.match(card_id):
            err("id", f"`id`: expected lowercase letters, digits, `-`, `_` or `.` (starting with a letter or digit), found {card_id!r}")
        question = text("question", required=True)
        if isinstance(vals.get("question"), str) and not question.strip():
            err("question", "`question`: expected some text, found an empty string")
        setup = text("setup")
        code = text("code")
        answer = vals.get("answer")
        raises = vals.get("raises")
        output = vals.get("output")
        given = [k for k in ("answer", "raises", "output") if vals.get(k) not in (None, False)]
        if len(given) != 1:
            found = "none" if not given else " and ".join(f"`{k}`" for k in given)
            err(given[1] if len(given) > 1 else "id",
                f"expected exactly one of `answer`, `raises`, `output`, found {found}")
        if isinstance(answer, (int, float)) and not isinstance(answer, bool):
            answer = repr(answer)  # `answer: 3` is the expression `3`
        if answer is not None and not isinstance(answer, str):
            err("answer", f"`answer`: expected a Python expression (a string), found {_type_name(answer)} {answer!r}; quote it")
            answer = None
        if raises is not None and (not isinstance(raises, str) or not re.match(r"^[A-Za-z_][\w.]*$", raises)):
            err("raises", f"`raises`: expected an exception type name such as `RuntimeError`, found {raises!r}")
            raises = None
        if output is not None and not isinstance(output, bool):
            err("output", f"`output`: expected `true`, found {_type_name(output)} {output!r}")
            output = False
        choices = vals.get("choices") or []
        if isinstance(choices, list):  # `- 3` is the expression `3`, as for `answer`
            choices = [repr(c) if isinstance(c, (int, float)) and not isinstance(c, bool) else c for c in choices]
        if "choices" in vals:
            if not isinstance(choices, list) or not choices:
                err("choices", f"`choices`: expected a non-empty list of expressions (strings), found {_type_name(vals.get('choices'))}")
                choices = []
            elif bad_choice := [c for c in choices if not isinstance(c, str)]:
                err("choices", f"`choices`: expected every option to be an expression (a string), found {_type_name(bad_choice[0])} {bad_choice[0]!r}; quote it")
                choices = []
        if choices and answer is None:
            err("choices", "`choices` needs `answer`: the options are the value of `answer` and of each choice")
        cloze = vals.get("cloze")
        if cloze is not None:
            if not isinstance(cloze, str) or not cloze.strip():
                err("cloze", f"`cloze`: expected a piece of `code` to blank out, found {cloze!r}")
                cloze = None
            elif code.count(cloze) != 1:
                err("cloze", f"`cloze`: expected {cloze!r} to occur exactly once in `code`, found it {code.count(cloze)} times")
        if choices and cloze is not None:
            err("cloze", "a card has either `choices` or `cloze`, not both")
        kind = vals.get("kind")
        if kind is not None:
            if kind not in KINDS:
                err("kind", f"`kind`: expected one of {', '.join(KINDS)}, found {kind!r}{_hint(str(kind), KINDS)}")
            else:
                need = {"error": raises, "output": output, "choice": choices, "cloze": cloze}
                if kind in need and not need[kind]:
                    field_ = {"error": "raises", "output": "output: true", "choice": "choices", "cloze": "cloze"}[kind]
                    err("kind", f"`kind: {kind}` expected `{field_}` on the card, found none")
                if kind in ("shape", "dtype", "value") and answer is None:
                    err("kind", f"`kind: {kind}` expected `answer` (an expression), found none")
        elif raises:
            kind = "error"
        elif output:
            kind = "output"
        if choices:
            kind = "choice"
        elif cloze is not None:
            kind = "cloze"
        requires = vals.get("requires") or []
        if isinstance(requires, str):
            requires = [requires]
        if not isinstance(requires, list) or any(r not in REQUIREMENTS for r in requires):
            err("requires", f"`requires`: expected a list of {', '.join(REQUIREMENTS)}, found {vals.get('requires')!r}")
            requires = []
        device = vals.get("device", "cpu")
        if device not in DEVICES:
            err("device", f"`device`: expected one of {', '.join(DEVICES)}, found {device!r}{_hint(str(device), DEVICES)}")
            device = "cpu"
        if device == "cuda" and "cuda" not in requires:
            requires = [*requires, "cuda"]
        seed = vals.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            err("seed", f"`seed`: expected a non-negative integer, found {seed!r}")
            seed = 0
        timeout = vals.get("timeout", 10.0)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            err("timeout", f"`timeout`: expected a positive number of seconds, found {timeout!r}")
            timeout = 10.0
        tags = self._tags(merged.get("tags"), label) if "tags" in merged else ()
        explain = text("explain")
        source = text("source")
        expect = vals.get("expect")
        if isinstance(expect, dict):
            err("expect", f"`expect`: expected a value (text, number, list), found {_type_name(expect)}")
        # Compile now: a syntax error is the author's, and belongs to the YAML line it is on.
        for key, src, mode in (("setup", setup, "exec"), ("code", code, "exec"), ("answer", answer, "eval")):
            if src:
                self._compile(src, mode, key, lines.get(key, node.line), label)
        for i, c in enumerate(choices if isinstance(choices, list) else []):
            if isinstance(c, str):
                self._compile(c, "eval", f"choices[{i}]", lines.get("choices", node.line), label)
        if len(self.problems) > bad or deck is None or not isinstance(card_id, str):
            return None
        all_tags = tuple(dict.fromkeys((*file_tags, *tags)))
        return Card(
            id=card_id, deck=deck, file=self.shown, line=node.line, question=question,
            kind=kind or "", setup=setup, code=code,
            setup_line=lines.get("setup", 0) if setup else 0,
            code_line=lines.get("code", 0) if code else 0,
            answer_line=lines.get("answer", 0) if answer else 0,
            answer=answer, raises=raises, output=bool(output), choices=tuple(choices),
            cloze=cloze, expect=expect, explain=explain.strip(), tags=all_tags, source=source,
            requires=tuple(requires), device=device, seed=seed, timeout=float(timeout),
        )

    def _compile(self, src: str, mode: str, key: str, line: int, label: str | None) -> None:
        try:
            compile(src if mode == "exec" else src.strip(), f"{self.shown}", mode)
        except SyntaxError as e:
            at = line + (e.lineno or 1) - 1
            self.problem(at, label, f"`{key}`: expected valid Python, found a SyntaxError: {e.msg}")
