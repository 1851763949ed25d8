"""The sources table: each study note a card's ``source`` names, with its title and citable sections.

A card's ``source`` is ``FILE#SECTION`` (several joined with ``; ``), a URL, or free text. The table
(``sources.conf`` beside the card files, YAML; the loader never takes it for a card file) gives each
note file its title, so every output can show "TITLE § SECTION (FILE)" while ``source`` keeps the
file name for traceability::

    003_c0021e8cc0c6f331.txt:
      title: PyTorch 笔记 ("PyTorch notes")
      about: notes of a video course        # optional: what the note is
      sections: ["3.3 Pooling Layer", ...]  # optional: the sections cards may cite

Where a table is present, a ``FILE#SECTION`` source must name a listed file (and, where the file lists
its sections, one of them): anything else is a located problem of the card. Without a table, or for a
URL or free text, ``source`` is shown as written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from generator.model import Location, Problem

TABLE_NAME = "sources.conf"
ENTRY_FIELDS = ("title", "about", "sections")


@dataclass(frozen=True)
class Note:
    file: str
    title: str
    about: str = ""
    sections: tuple[str, ...] = ()  # empty: any section may be cited


def read_table(path: Path, shown: str) -> tuple[dict[str, Note], list[Problem]]:
    """The valid entries of one table, and a located problem for each invalid one (all reported)."""
    from generator.fields import found, hint
    from generator.yamltree import YamlError, check_size, compose, decode, printable

    problems: list[Problem] = []

    def bad(line: int, message: str) -> None:
        problems.append(Problem(Location(shown, line), None, message))

    try:
        check_size(path.stat().st_size)
        root, soft = compose(decode(path.read_bytes()))
    except OSError as e:
        bad(0, f"cannot read the sources table: {e.strerror or e}")
        return {}, problems
    except YamlError as e:
        bad(e.line, e.message)
        return {}, problems
    for s in soft:
        bad(s.line, s.message)
    if soft:
        return {}, problems
    if root is None or not isinstance(root.value, dict):
        bad(root.line if root else 1, "expected a mapping of note files to `title` (and optional `about`, `sections`), "
            f"found {found(root.plain() if root else None)}")
        return {}, problems
    notes: dict[str, Note] = {}
    for name, node in root.value.items():
        line = root.key_lines[name]
        where = f"`{printable(name)}`"
        if not name.strip() or any(ch in name for ch in "#;") or name != name.strip():
            bad(line, f"expected a note file name (no `#`, `;` or surrounding spaces), found {where}")
            continue
        if not isinstance(node.value, dict):
            bad(line, f"{where}: expected a mapping with `title`, found {found(node.plain())}")
            continue
        ok = True
        for key in node.value:
            if key not in ENTRY_FIELDS:
                bad(node.key_lines[key], f"{where}: unknown field `{printable(key)}`{hint(key, ENTRY_FIELDS)}; "
                    f"expected one of: {', '.join(ENTRY_FIELDS)}")
                ok = False
        title = node.value.get("title")
        if title is None:
            bad(line, f"{where}: missing `title`: expected one line of text (the note's title)")
            ok = False
        elif not isinstance(title.value, str) or not title.value.strip() or "\n" in title.value.strip():
            bad(title.line, f"{where}: `title`: expected one line of text, found {found(title.plain())}")
            ok = False
        about = node.value.get("about")
        if about is not None and not isinstance(about.value, str):
            bad(about.line, f"{where}: `about`: expected text, found {found(about.plain())}")
            ok = False
        sections: tuple[str, ...] = ()
        if (sec := node.value.get("sections")) is not None:
            raw = sec.plain()
            if not isinstance(raw, list) or not all(isinstance(s, str) and s.strip() and ";" not in s for s in raw):
                bad(sec.line, f"{where}: `sections`: expected a list of section names (text without `;`), found {found(raw)}")
                ok = False
            elif len(set(raw)) != len(raw):
                twice = sorted({s for s in raw if raw.count(s) > 1})
                bad(sec.line, f"{where}: `sections`: expected each section once, found {', '.join(twice)} twice")
                ok = False
            else:
                sections = tuple(s.strip() for s in raw)
        if ok and title is not None:
            about_text = about.value.strip() if about is not None and isinstance(about.value, str) else ""
            notes[name] = Note(name, title.value.strip(), about_text, sections)
    return notes, problems


def find_tables(paths: list[Path]) -> list[Path]:
    """The ``sources.conf`` of each folder named (or holding a file named), each once, in order."""
    out: list[Path] = []
    for p in paths:
        table = (p if p.is_dir() else p.parent) / TABLE_NAME
        if table.is_file() and table.resolve() not in {t.resolve() for t in out}:
            out.append(table)
    return out


@dataclass(frozen=True)
class SourcePart:
    """One ``;``-separated part of a card's ``source``: ``FILE#SECTION``, ``FILE``, a URL or free text."""

    text: str  # the part as written (surrounding spaces dropped)
    file: str  # before the first ``#`` (the whole part when there is none)
    section: str | None  # after the first ``#``; None when the part has no ``#``


def split_source(source: str) -> list[SourcePart]:
    """The non-empty parts of ``source``, split at ``;`` and each at its first ``#``.

    The one reading of ``source``: the loader checks each part against the table
    (:func:`titles_for`) and every output shows each part (``render.question.source_line``).
    """
    parts = []
    for part in (p.strip() for p in source.split(";")):
        if not part:
            continue
        name, has_section, section = part.partition("#")
        parts.append(SourcePart(part, name.strip(), section.strip() if has_section else None))
    return parts


def titles_for(source: str, notes: dict[str, Note]) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """The (file, title) of each listed note ``source`` names, and what is wrong with the rest.

    Only ``FILE#SECTION`` parts are checked (a URL or free text is shown as written).
    """
    from generator.fields import hint
    from generator.yamltree import printable

    titles: dict[str, str] = {}
    wrong: list[str] = []
    for part in split_source(source):
        name, section = part.file, part.section
        if "://" in name:
            continue
        note = notes.get(name)
        if note is None:
            if section is not None:
                wrong.append(f"expected a note file listed in {TABLE_NAME}, found `{printable(name)}`{hint(name, list(notes))}")
            continue
        if section is not None and note.sections and section not in note.sections:
            wrong.append(f"expected a section of `{name}` listed in {TABLE_NAME}, found `{printable(section)}`"
                         f"{hint(section, list(note.sections))}")
            continue
        titles[name] = note.title
    return tuple(titles.items()), wrong
