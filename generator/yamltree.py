"""Card file bytes -> a tree of located YAML values, trusting nothing in the file.

The tree is built from the parser's event stream, without recursion, so that every hostile input
is a located message, in bounded time and memory:

- text that is not UTF-8 (line and column of the first bad byte), a UTF-16/32 byte order mark, a
  file over ``MAX_FILE_BYTES``, nesting deeper than ``MAX_DEPTH``, more than ``MAX_VALUES`` values
  or a second document is a ``YamlError``, as is every syntax error (with its column and, for the
  common mistakes, the fix);
- duplicate keys, complex keys (``? [a, b]``), merge keys (``<<``), unknown or bad tags
  (``!!int x``, ``!!python/...``), undefined or recursive aliases, aliases that expand past
  ``ALIAS_BUDGET`` and unpaired surrogates are *soft* problems: collected with their line, so that
  the loader can fail only the card they are in.

Scalars are plain Python ``str``, ``int``, ``float``, ``bool`` or ``None``; keys are the key's text.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

try:  # libyaml is much faster; the pure-Python parser gives the same events and marks
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

#: The largest card file read (a file is read whole).
MAX_FILE_BYTES = 16 * 1024 * 1024
#: How much aliases may add to a file, in values (a scalar counts one per started KiB of text).
ALIAS_BUDGET = 10_000
#: The deepest nesting of lists and mappings accepted (a card needs about 5).
MAX_DEPTH = 50
#: The most values (scalars, lists, mappings) in one file; a card has about 15.
MAX_VALUES = 200_000

_YAML = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_YAML + t for t in ("str", "int", "float", "bool", "null")}
_SURROGATE = re.compile("[\ud800-\udfff]")
_resolver = yaml.resolver.Resolver()
_constructor = yaml.constructor.SafeConstructor()


class YamlError(Exception):
    """The file cannot be read as YAML at all: ``line`` (1-based) and a message."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(eq=False, slots=True)
class Node:
    """A YAML value with its first and last line (1-based) and, for a mapping, each key's line."""

    value: Any
    line: int
    end_line: int = 0
    key_lines: dict[str, int] = field(default_factory=dict)
    cost: int = 1  # values this node stands for once aliases are expanded
    text: str | None = None  # a plain scalar's own text, where YAML read it as a non-string

    def plain(self) -> Any:
        """The value as plain lists, dicts and scalars (bounded: aliases are budgeted)."""
        if isinstance(self.value, dict):
            return {k: v.plain() for k, v in self.value.items()}
        if isinstance(self.value, list):
            return [v.plain() for v in self.value]
        return self.value


@dataclass(frozen=True)
class Soft:
    """A problem inside the tree: its line, and a message in `expected ..., found ...` style."""

    line: int
    message: str


def check_size(size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise YamlError(1, f"expected a card file of at most {MAX_FILE_BYTES // 2**20} MiB ({MAX_FILE_BYTES} bytes), found {size} bytes")


def decode(data: bytes) -> str:
    """UTF-8 text (a leading UTF-8 byte order mark is dropped), else a ``YamlError`` where it breaks."""
    check_size(len(data))
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise YamlError(1, "expected UTF-8 text, found a UTF-16 (or UTF-32) byte order mark; save the file as UTF-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        start = data.rfind(b"\n", 0, e.start) + 1
        line = data.count(b"\n", 0, e.start) + 1
        column = len(data[start:e.start].decode("utf-8")) + 1
        raise YamlError(line, f"expected UTF-8 text, found the byte 0x{data[e.start]:02x} at column {column}; save the file as UTF-8") from None


def _position(text: str, index: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - start + 1


def _syntax_error(e: yaml.YAMLError, text: str) -> YamlError:
    if isinstance(e, yaml.reader.ReaderError):
        line, column = _position(text, e.position)
        return YamlError(line, f"invalid YAML at column {column}: expected printable text, found the control character {chr(e.character)!r}")
    if not isinstance(e, yaml.MarkedYAMLError):  # pragma: no cover - every parser error is marked
        return YamlError(1, f"invalid YAML: {e}")
    mark = e.problem_mark or e.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = str(e.problem or e.context or "").rstrip(".")
    where = ""
    if e.context and e.context_mark and e.problem_mark and e.context_mark.line != e.problem_mark.line:
        where = f" ({e.context} started at line {e.context_mark.line + 1})"
    at_line = text.splitlines()[line - 1] if 0 < line <= len(text.splitlines()) else ""
    fix = ""
    if "tab" in problem or "\t" in at_line[: max(column, 1)]:
        fix = "; indent with spaces, not tabs"
    elif problem.startswith("found character that cannot start any token") and at_line[column - 1: column] in "`@%":
        fix = f"; quote the value (\"...\"): a plain value cannot start with {at_line[column - 1]}"
    elif problem.startswith("mapping values are not allowed"):
        fix = "; quote the value (\"...\") or use a block scalar (`|`): a `: ` inside a plain value starts a mapping"
    elif e.context in ("while parsing a flow sequence", "while parsing a flow mapping"):
        fix = ("; a flow list `[...]` cannot hold expressions with brackets, commas or colons: "
               "write it as a block list, one `- item` per line, as the README's card format shows")
    return YamlError(line, f"invalid YAML at column {column}: {problem}{where}{fix}")


def _scalar(ev: yaml.ScalarEvent, line: int, soft: list[Soft]) -> Any:
    value = ev.value
    if _SURROGATE.search(value):
        soft.append(Soft(line, "expected text that can be written as UTF-8, found an unpaired surrogate escape (`\\ud800`-`\\udfff`)"))
        return None
    tag = ev.tag
    if tag is None or tag == "!":
        tag = _resolver.resolve(yaml.ScalarNode, value, ev.implicit)
        if tag not in _SCALAR_TAGS:  # an implicit timestamp (`2024-01-01`) stays the text it is
            return value
    if tag not in _SCALAR_TAGS:
        soft.append(Soft(line, f"expected a plain value, found the unsupported tag {tag!r}"))
        return None
    if tag == _YAML + "str":
        return value
    try:
        out = _constructor.yaml_constructors[tag](_constructor, yaml.ScalarNode(tag, value))
    except (ValueError, TypeError, OverflowError, yaml.YAMLError):
        soft.append(Soft(line, f"expected a valid {tag[len(_YAML):]}, found {value[:40]!r}"))
        return None
    if isinstance(out, int) and not isinstance(out, bool) and abs(out) > 2**64:
        soft.append(Soft(line, f"expected an integer of at most 64 bits, found {value[:40]!r}"))
        return None
    return out


def printable(text: str, limit: int = 80) -> str:
    """``text`` safe to print in a message: escapes for what is not printable, cut at ``limit``."""
    shown = text if text.isprintable() else repr(text)[1:-1]
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _twice(first: int, second: int) -> str:
    return f"twice on line {first}" if first == second else f"at lines {first} and {second}"


def _line(mark: Any) -> int:
    return int(mark.line) + 1 if mark is not None else 1


class _Open:
    """A mapping or list being built, with the key waiting for its value."""

    __slots__ = ("anchor", "bad", "key", "key_line", "last", "node")

    def __init__(self, node: Node, anchor: str | None, bad: bool) -> None:
        self.node = node
        self.anchor = anchor
        self.bad = bad
        self.last = node.line  # the last line with content, so far
        self.key: str | None = None
        self.key_line = 0


_BAD_KEY = "\x00bad key"


def compose(text: str) -> tuple[Node | None, list[Soft]]:
    """The single document in ``text`` (``None`` when it holds none) and the soft problems in it."""
    soft: list[Soft] = []
    anchors: dict[str, Node] = {}
    stack: list[_Open] = []
    root: Node | None = None
    documents = 0
    alias_cost = 0
    values = 0

    def add(node: Node, line: int, last: int) -> None:
        """Put ``node`` (starting on ``line``, its text ending on ``last``) into the open collection."""
        nonlocal root
        if not stack:
            root = node
            return
        top = stack[-1]
        top.last = max(top.last, last)
        top.node.cost += node.cost
        if isinstance(top.node.value, list):
            top.node.value.append(node)
        elif top.key is None:  # this node is a key
            if isinstance(node.value, (dict, list)):
                soft.append(Soft(line, "expected a plain key (a name), found a complex key (a list or mapping)"))
                top.key, top.key_line = _BAD_KEY, line
            else:
                top.key, top.key_line = "" if node.value is None else str(node.value), line
        else:
            key, mapping = top.key, top.node
            top.key = None
            if key == _BAD_KEY:
                return
            if key in mapping.value:
                soft.append(Soft(top.key_line, f"duplicate key `{printable(key)}`: expected each key once in a mapping, found it {_twice(mapping.key_lines[key], top.key_line)}"))
                return
            mapping.value[key] = node
            mapping.key_lines[key] = top.key_line

    try:
        for ev in yaml.parse(text, Loader=_Loader):
            line = _line(ev.start_mark)
            if isinstance(ev, (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                values += 1
                if values > MAX_VALUES:
                    raise YamlError(line, f"expected at most {MAX_VALUES} values in one file, found more; split the file")
            if isinstance(ev, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise YamlError(line, "expected one YAML document, found a second one (`---`); put every card of a file under one `cards:`")
            elif isinstance(ev, yaml.ScalarEvent):
                key_position = bool(stack) and isinstance(stack[-1].node.value, dict) and stack[-1].key is None
                if key_position:
                    if ev.value == "<<" and ev.tag is None and ev.implicit[0]:
                        soft.append(Soft(line, "expected a field name, found a merge key `<<`; use `defaults:` for fields shared by the cards of a file"))
                        node = Node(_BAD_KEY, line, line)
                    else:
                        node = Node(ev.value, line, line)  # a key is the text the author wrote
                else:
                    if ev.style in ("|", ">"):
                        line += 1  # a block scalar's text starts on the line after the indicator
                    end = ev.end_mark
                    last = _line(end) - (1 if end is not None and end.column == 0 and _line(end) > line else 0)
                    value = _scalar(ev, line, soft)
                    node = Node(value, line, last, cost=1 + len(ev.value) // 1024,
                                text=ev.value if value is not None and not isinstance(value, str) else None)
                if ev.anchor:
                    anchors[ev.anchor] = node
                if key_position and node.value == _BAD_KEY:
                    stack[-1].key, stack[-1].key_line = _BAD_KEY, line
                else:
                    add(node, line, node.end_line)
            elif isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                is_map = isinstance(ev, yaml.MappingStartEvent)
                want = _YAML + ("map" if is_map else "seq")
                bad = ev.tag not in (None, "!", want)
                if bad:
                    soft.append(Soft(line, f"expected a plain value, found the unsupported tag {ev.tag!r}"))
                if len(stack) >= MAX_DEPTH:
                    raise YamlError(line, f"expected lists and mappings nested at most {MAX_DEPTH} deep, found deeper nesting")
                stack.append(_Open(Node({} if is_map else [], line), ev.anchor, bad))
            elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                done = stack.pop()
                done.node.end_line = done.last
                if done.bad:
                    done.node.value = None
                if done.anchor:
                    anchors[done.anchor] = done.node
                add(done.node, done.node.line, done.last)
            elif isinstance(ev, yaml.AliasEvent):
                target = anchors.get(ev.anchor or "")
                if any(o.anchor == ev.anchor for o in stack):
                    soft.append(Soft(line, f"expected an alias to a finished value, found the recursive alias `*{ev.anchor}`"))
                    target = None
                elif target is None:
                    soft.append(Soft(line, f"expected an alias to an anchor defined above, found `*{ev.anchor}`, which is not"))
                elif alias_cost + target.cost > ALIAS_BUDGET:
                    if alias_cost <= ALIAS_BUDGET:  # said once
                        soft.append(Soft(line, f"expected aliases to add at most {ALIAS_BUDGET} values to the file, found `*{ev.anchor}` going past that (an alias bomb?)"))
                    alias_cost = ALIAS_BUDGET + 1
                    target = None
                if target is None:
                    add(Node(None, line, line), line, line)
                else:
                    alias_cost += target.cost
                    add(target, line, line)
    except yaml.YAMLError as e:
        raise _syntax_error(e, text) from None
    return root, soft
