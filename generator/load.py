"""Stage 1: YAML card files -> validated, ``params``-expanded ``Card`` objects.

Every problem is collected (never raised) with its file, line and card id, so a user sees all of
them at once, and one bad card never keeps the others from building. The bytes are read by
``generator.yamltree`` (hostile YAML is a located problem, in bounded time and memory); every card
field is checked through the table in ``generator.fields``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.fields import BY_NAME, FIELDS, NAMES, Bad, found, hint
from generator.fields import _tags as check_tags
from generator.loadmemo import LoadMemo
from generator.model import Card, Location, Problem
from generator.sources import Note, find_tables, read_table, titles_for
from generator.yamltree import Node, Soft, YamlError, check_size, compose, decode, printable

DECK_FIELDS = ("deck", "tags", "defaults", "cards")
DECK_RE = re.compile(r"[^:\x00-\x1f\x7f]+(::[^:\x00-\x1f\x7f]+)*")
#: Which field a kind needs on the card, and how the message names it.
#: The most text (in characters) the cards of one `params` entry may hold together, before substitution.
MAX_EXPANDED_TEXT = 32 * 2**20
_KIND_NEEDS = {"error": "raises", "output": "output", "choice": "choices", "cloze": "cloze"}


@dataclass(frozen=True)
class LoadResult:
    cards: tuple[Card, ...]
    problems: tuple[Problem, ...]
    files: tuple[str, ...] = ()


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


def load(paths: Sequence[Path], *, root: Path | None = None,
         on_file: Callable[[list[Card]], None] | None = None, memo: Path | None = None) -> LoadResult:
    """Every card of the card files under ``paths``, validated, in file order, and every problem.

    ``on_file(cards)`` is called once each file is read, newest file first (the one just edited
    comes first: the caller can start what its cards need while the rest is read); the result is
    in file order whatever the order of reading. ``memo``: a ``loadmemo`` file to take unchanged
    files from and keep the others in.
    """
    kept = LoadMemo(memo) if memo is not None else None
    try:
        return _load(paths, root, on_file, kept)
    finally:
        if kept is not None:
            kept.save()


def _load(paths: Sequence[Path], root: Path | None, on_file: Callable[[list[Card]], None] | None,
          memo: LoadMemo | None) -> LoadResult:
    files, problems = discover(paths)
    tables = find_tables(list(paths))
    notes: dict[str, Note] = {}
    for table in tables:
        entries, table_problems = read_table(table, display_path(table, root))
        problems.extend(table_problems)
        for name, note in entries.items():
            if name in notes and notes[name] != note:
                problems.append(Problem(Location(display_path(table, root), 0), None,
                                        f"`{name}`: expected one entry per note file, found another in an earlier sources table"))
            notes.setdefault(name, note)
    cards: list[Card] = []
    seen: dict[str, Card] = {}
    shown_files: list[str] = []
    read: dict[Path, tuple[list[Card], list[Problem]]] = {}
    if on_file is not None:
        for path in sorted(files, key=_modified, reverse=True):
            read[path] = load_file(path, display_path(path, root), memo)
            on_file(read[path][0])
    for path in files:
        shown = display_path(path, root)
        shown_files.append(shown)
        file_cards, file_problems = read.pop(path) if path in read else load_file(path, shown, memo)
        problems.extend(file_problems)
        for card in file_cards:
            if card.id in seen:
                other = seen[card.id]
                problems.append(Problem(card.location, card.id,
                                        f"duplicate id: expected ids unique across all files, found `{card.id}` also at {other.location}"))
                continue
            seen[card.id] = card
            if tables and card.source:
                titles, wrong = titles_for(card.source, notes)
                if wrong:
                    problems.extend(Problem(card.location, card.id, f"`source`: {w}") for w in wrong)
                    continue
                card = dataclasses.replace(card, source_titles=titles)
            cards.append(card)
    return LoadResult(tuple(cards), tuple(problems), tuple(shown_files))


def _modified(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def load_file(path: Path, shown: str, memo: LoadMemo | None = None) -> tuple[list[Card], list[Problem]]:
    """The cards of one file and its problems; from ``memo`` when the same bytes loaded cleanly before."""
    try:
        check_size(path.stat().st_size)  # before reading it whole
        data = path.read_bytes()
        key = memo.key(data, shown) if memo is not None else ""
        if memo is not None and (kept := memo.get(key)) is not None:
            return kept, []
        root, soft = compose(decode(data))
    except OSError as e:
        return [], [Problem(Location(shown, 0), None, f"cannot read the file: {e.strerror or e}")]
    except YamlError as e:
        return [], [Problem(Location(shown, e.line), None, e.message)]
    if root is None:
        return [], [Problem(Location(shown, 1), None, "expected a mapping with `deck` and `cards`, found an empty file")]
    cards, problems = _FileLoader(shown, root, soft).run()
    if memo is not None and not problems:
        memo.put(key, cards)
    return cards, problems


def _label(raw: Any) -> str | None:
    """A card's id as shown in messages: printable and short, whatever the file holds."""
    return printable(raw) if isinstance(raw, str) else None


def _text_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(_text_size(v) for v in value)
    return 1


def _substitute(value: Any, combo: dict[str, Any], pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(lambda m: str(combo[m.group(1)]), value)
    if isinstance(value, list):
        return [_substitute(v, combo, pattern) for v in value]
    return value


class _FileLoader:
    def __init__(self, shown: str, doc: Node, soft: list[Soft]) -> None:
        self.shown = shown
        self.doc = doc
        self.soft = soft
        self.problems: list[Problem] = []

    def problem(self, line: int, card_id: str | None, message: str) -> None:
        self.problems.append(Problem(Location(self.shown, line), card_id, message))

    def _unsound(self, node: Node) -> bool:
        """``node`` stands for a value the tree could not give (a soft problem on its line)."""
        return node.value is None and any(s.line == node.line for s in self.soft)

    def run(self) -> tuple[list[Card], list[Problem]]:
        doc = self.doc
        if not isinstance(doc.value, dict):
            self.problem(doc.line, None, f"expected a mapping with `deck` and `cards`, found {found(doc.plain())}")
            return [], self.problems
        for key in doc.value:
            if key not in DECK_FIELDS:
                tip = hint(key, DECK_FIELDS)
                if not tip and key in BY_NAME:
                    tip = " (card fields go under `cards:` or `defaults:`)"
                self.problem(doc.key_lines[key], None, f"unknown file field `{printable(key)}`{tip}; expected one of: {', '.join(DECK_FIELDS)}")
        deck = self._deck(doc)
        file_tags: tuple[str, ...] = ()
        if (tags_node := doc.value.get("tags")) is not None and tags_node.value is not None:
            try:
                file_tags = check_tags(tags_node.plain())
            except Bad as e:
                self.problem(tags_node.line, None, f"`tags`: {e}")
        defaults = self._defaults(doc.value.get("defaults"))
        cards_node = doc.value.get("cards")
        items: list[Node] = []
        if cards_node is None:
            self.problem(doc.line, None, "missing `cards`: expected a list of cards")
        elif isinstance(cards_node.value, list):
            items = cards_node.value
        elif not self._unsound(cards_node):
            self.problem(cards_node.line, None, f"`cards`: expected a list of cards, found {found(cards_node.plain())}")
        # A problem inside the YAML tree fails the card it is in, or the whole file when outside any.
        soft_of: dict[int, list[Soft]] = {}
        for s in self.soft:
            owner = max((i for i, n in enumerate(items) if n.line <= s.line <= n.end_line), default=None)
            if owner is None:
                self.problem(s.line, None, s.message)
            else:
                soft_of.setdefault(owner, []).append(s)
        file_ok = not self.problems and deck is not None
        out: list[Card] = []
        for i, node in enumerate(items):
            out.extend(self._card(node, deck or "", file_tags, defaults, soft_of.get(i, [])))
        return (out if file_ok else []), self.problems

    def _deck(self, doc: Node) -> str | None:
        node = doc.value.get("deck")
        if node is None:
            self.problem(doc.line, None, "missing `deck`: expected a deck name such as `PyTorch::Tensors::Shapes`")
            return None
        if self._unsound(node):
            return None
        name = node.text or node.value
        if not isinstance(name, str) or not DECK_RE.fullmatch(name.strip()):
            self.problem(node.line, None, f"`deck`: expected a name like `PyTorch::Tensors`, found {found(name)}")
            return None
        return "::".join(part.strip() for part in name.split("::"))

    def _defaults(self, node: Node | None) -> dict[str, Node]:
        if node is None or node.value is None:
            return {}
        if not isinstance(node.value, dict):
            self.problem(node.line, None, f"`defaults`: expected a mapping of card fields, found {found(node.plain())}")
            return {}
        out: dict[str, Node] = {}
        for key, child in node.value.items():
            line = node.key_lines[key]
            if key not in BY_NAME:
                self.problem(line, None, f"`defaults`: unknown card field `{printable(key)}`{hint(key, NAMES)}")
            elif not BY_NAME[key].defaultable:
                self.problem(line, None, f"`defaults`: `{key}` cannot have a default; set it on each card")
            elif child.value is not None:
                out[key] = child
        return out

    def _card(self, node: Node, deck: str, file_tags: tuple[str, ...], defaults: dict[str, Node],
              soft: list[Soft]) -> list[Card]:
        id_node = node.value.get("id") if isinstance(node.value, dict) else None
        label = _label(id_node.text or id_node.value) if id_node is not None else None
        before = len(self.problems)
        for s in soft:
            self.problem(s.line, label, s.message)
        if not isinstance(node.value, dict):
            if not self._unsound(node):
                self.problem(node.line, None, f"expected a card (a mapping with `id` and `question`), found {found(node.plain())}")
            return []
        for key in node.value:
            if key not in BY_NAME:
                self.problem(node.key_lines[key], label, f"unknown field `{printable(key)}`{hint(key, NAMES)}")
        if soft:  # the values of this card are not what the file says: checking them would mislead
            return []
        if id_node is None or id_node.value is None:
            self.problem(node.line, None, "missing `id`: every card needs a unique id (lowercase letters, digits, `-`, `_`, `.`)")
            return []
        # (value, line of the value, line of the key) of every field given, a card's own over its defaults
        given: dict[str, tuple[Any, int, int]] = {}
        for source in (defaults, node.value):
            for key, child in source.items():
                if key in BY_NAME and child.value is not None:
                    key_line = (node if source is node.value else self.doc.value["defaults"]).key_lines[key]
                    value = child.text if BY_NAME[key].text and child.text is not None else child.plain()
                    given[key] = (value, child.line, key_line)
        combos: Iterable[dict[str, Any]] = [{}]
        pattern = None
        if "params" in given:
            value, line, _ = given["params"]
            try:
                params = BY_NAME["params"].check(value)
            except Bad as e:
                self.problem(line, label, f"`params`: {e}")
                return []
            count = math.prod(len(v) for v in params.values())
            size = sum(_text_size(v) for k, (v, _, _) in given.items() if k != "params")
            if count * size > MAX_EXPANDED_TEXT:
                self.problem(line, label, f"`params`: expected the cards of one entry to hold at most {MAX_EXPANDED_TEXT // 2**20} MiB "
                             f"of text, found {count} cards of {size} characters each")
                return []
            combos = (dict(zip(params, values, strict=True)) for values in itertools.product(*params.values()))
            pattern = re.compile(r"\{(" + "|".join(map(re.escape, params)) + r")\}")
        cards: list[Card] = []
        for combo in combos:
            card = self._one(node, given, combo, pattern, deck, file_tags, label)
            if card is None:
                return []  # the first expansion with a problem is reported; the entry fails as a whole
            cards.append(card)
        if len(self.problems) > before:
            return []
        if pattern is not None and len({c.id for c in cards}) < len(cards):
            placeholders = ", ".join("{" + p + "}" for p in given["params"][0])
            self.problem(id_node.line, label, f"`params`: expected `id` to use a placeholder ({placeholders}) so every expansion has its own id, found {given['id'][0]!r}")
            return []
        return cards

    def _values(self, node: Node, given: dict[str, tuple[Any, int, int]], combo: dict[str, Any],
                pattern: re.Pattern[str] | None, label: str | None) -> tuple[dict[str, Any], set[str], str | None]:
        """Every field of the table, substituted and checked: the values, the fields that failed, the id shown."""
        vals: dict[str, Any] = {}
        failed: set[str] = set()
        for f in FIELDS:
            if f.name == "params":
                continue
            if f.name not in given:
                if f.required:
                    self.problem(node.line, label, f"missing `{f.name}`: expected {f.doc}")
                    failed.add(f.name)
                vals[f.name] = f.default
                continue
            value, line, _ = given[f.name]
            if pattern is not None and f.params:
                value = _substitute(value, combo, pattern)
            try:
                vals[f.name] = f.check(value)
            except Bad as e:
                self.problem(line, label, f"`{f.name}`: {e}")
                failed.add(f.name)
                vals[f.name] = f.default
            if f.name == "id":
                label = vals["id"] if vals["id"] is not None else _label(value) if pattern is not None else label
        return vals, failed, label

    def _kind(self, vals: dict[str, Any], failed: set[str], given: dict[str, tuple[Any, int, int]],
              err: Callable[[str, str], None]) -> str:
        """The rules between fields; the card's kind where the fields fix it, else ``""``."""
        answer, raises, output, choices, cloze = (vals[k] for k in ("answer", "raises", "output", "choices", "cloze"))
        wrong = [k for k in ("answer", "raises", "output") if k in given and given[k][0] is not False]
        if len(wrong) != 1 and not failed & {"answer", "raises", "output"}:
            what = "none" if not wrong else " and ".join(f"`{k}`" for k in wrong)
            err(wrong[1] if len(wrong) > 1 else "id", f"expected exactly one of `answer`, `raises`, `output`, found {what}")
        if choices and "answer" not in given:
            err("choices", "`choices` needs `answer`: the options are the value of `answer` and of each choice")
        if cloze is not None:
            if vals["code"].count(cloze) != 1:
                err("cloze", f"`cloze`: expected {cloze!r} to occur exactly once in `code`, found it {vals['code'].count(cloze)} times")
            if choices:
                err("cloze", "a card has either `choices` or `cloze`, not both")
        kind = vals["kind"]
        if vals["solution"].strip() or kind == "exercise":
            self._exercise(vals, given, err)
            return "exercise"
        for name in ("variants", "hint", "tolerance"):
            if name in given and name not in failed:
                err(name, f"`{name}` belongs to an exercise: expected `solution` on the card, found none")
        if kind is not None:
            need = _KIND_NEEDS.get(kind)
            if need is not None and not vals[need]:
                err("kind", f"`kind: {kind}` expected `{'output: true' if need == 'output' else need}` on the card, found none")
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
        return kind or ""

    def _exercise(self, vals: dict[str, Any], given: dict[str, tuple[Any, int, int]],
                  err: Callable[[str, str], None]) -> None:
        """The rules of ``kind: exercise``: a solution, an answer (or raises) to compare, nothing shown."""
        if not vals["solution"].strip():
            err("solution" if "solution" in given else "kind",
                "`kind: exercise` expected `solution` (the reference code the learner's code replaces), found none")
        for name, why in (("code", "the learner writes the code: put the reference in `solution`"),
                          ("output", "compare a value (`answer`) or an exception (`raises`)"),
                          ("choices", "the learner writes code, there is nothing to choose"),
                          ("cloze", "the learner writes the whole code, there is nothing to fill in")):
            if name in given and given[name][0] not in (False, ""):
                err(name, f"an exercise has no `{name}` ({why})")

    def _one(self, node: Node, given: dict[str, tuple[Any, int, int]], combo: dict[str, Any],
             pattern: re.Pattern[str] | None, deck: str, file_tags: tuple[str, ...],
             label: str | None) -> Card | None:
        """One card of an entry (one combination of its ``params``), or ``None`` with its problems."""
        bad = len(self.problems)
        vals, failed, label = self._values(node, given, combo, pattern, label)

        def line_of(name: str) -> int:
            return given[name][1] if name in given else node.line

        def err(name: str, message: str) -> None:
            self.problem(line_of(name), label, message)

        kind = self._kind(vals, failed, given, err)
        # Compile now: a syntax error is the author's, and belongs to the YAML line it is on.
        for key, mode in (("setup", "exec"), ("code", "exec"), ("answer", "eval")):
            if vals[key]:
                self._compile(vals[key], mode, key, line_of(key), label)
        for i, c in enumerate(vals["choices"]):
            self._compile(c, "eval", f"choices[{i}]", line_of("choices"), label)
        if vals["solution"]:
            self._compile(vals["solution"], "exec", "solution", line_of("solution"), label)
        for i, v in enumerate(vals["variants"]):
            self._compile(v, "exec", f"variants[{i}]", line_of("variants"), label)
        if len(self.problems) > bad:
            return None
        requires = vals["requires"]
        if vals["device"] == "cuda" and "cuda" not in requires:
            requires = (*requires, "cuda")
        return Card(
            id=vals["id"], deck=deck, file=self.shown, line=node.line, question=vals["question"],
            kind=kind, setup=vals["setup"], code=vals["code"],
            setup_line=line_of("setup") if vals["setup"] else 0,
            code_line=line_of("code") if vals["code"] else 0,
            answer_line=line_of("answer") if vals["answer"] else 0,
            expect_line=given["expect"][2] if "expect" in given else 0,
            answer=vals["answer"], raises=vals["raises"], output=vals["output"], choices=vals["choices"],
            cloze=vals["cloze"], expect=vals["expect"], explain=vals["explain"].strip(),
            tags=tuple(dict.fromkeys((*file_tags, *vals["tags"]))), source=vals["source"],
            requires=requires, device=vals["device"], seed=vals["seed"], timeout=vals["timeout"],
            solution=vals["solution"], solution_line=line_of("solution") if vals["solution"] else 0,
            variants=vals["variants"], variants_line=given["variants"][2] if "variants" in given else 0,
            hint=vals["hint"].strip(), tolerance=vals["tolerance"],
        )

    def _compile(self, src: str, mode: str, key: str, line: int, label: str | None) -> None:
        try:
            compile(src if mode == "exec" else src.strip(), self.shown, mode)
        except SyntaxError as e:
            at = line + (e.lineno or 1) - 1
            self.problem(at, label, f"`{key}`: expected valid Python, found a SyntaxError: {e.msg}")
        except (ValueError, RecursionError, MemoryError) as e:  # null bytes; absurd nesting
            why = f"{type(e).__name__}: {printable(str(e))}" if str(e) else type(e).__name__
            self.problem(line, label, f"`{key}`: expected valid Python, found code Python cannot compile ({why})")
