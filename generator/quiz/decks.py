"""Which built deck ``tnquiz quiz`` and ``tnquiz stats`` read, and where the review database lives.

A deck is named on the command line as a built deck folder (what ``tnquiz build --out`` wrote, holding
``cards.json``) or as its ``cards.json``. Without one, the last deck built or used is taken (remembered
in ``last-deck.json`` beside the default review database, written atomically), else
``./build/cards.json``. :func:`remember_deck` is what ``tnquiz build`` calls after writing a deck.

This module imports neither fsrs nor sqlite: ``tnquiz build`` calls it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from generator import atomic

ENV_DB = "TNQUIZ_DB"
DB_NAME = "reviews.sqlite3"
STATE_NAME = "last-deck.json"
CARDS_JSON = "cards.json"
DEFAULT_CARDS = Path("build") / CARDS_JSON
_CARD_SUFFIXES = (".yaml", ".yml")


def default_db_path() -> Path:
    """``$TNQUIZ_DB``, else ``reviews.sqlite3`` in the platform's user data dir for ``tnquiz``."""
    env = os.environ.get(ENV_DB)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("tnquiz")) / DB_NAME


def state_path() -> Path:
    """``last-deck.json``, beside the default review database (so ``TNQUIZ_DB`` moves it too)."""
    return default_db_path().with_name(STATE_NAME)


class DeckChoiceError(Exception):
    """The deck named on the command line cannot be used: one line for the user, with a hint."""


@dataclass(frozen=True)
class LastDeck:
    cards: Path  # absolute path of cards.json
    sources: tuple[Path, ...]  # the card files / folders it was built from (absolute; empty if unknown)
    by: str  # "build", "quiz" or "stats"


@dataclass(frozen=True)
class Chosen:
    path: Path  # the cards.json to read
    why: str  # how it was chosen, for the "Deck: PATH (why)" line

    def describe(self) -> str:
        from generator.quiz.terminal import visible

        return visible(f"Deck: {self.path} ({self.why})")


def remember_deck(cards_json: Path, sources: Sequence[Path] = (), *, by: str = "build") -> None:
    """Record ``cards_json`` as the last deck built (or used): ``tnquiz quiz`` with no deck reads it.

    Never fails the caller: if the state file cannot be written, one warning line goes to stderr.
    """
    data = {"cards": str(Path(cards_json).resolve()), "sources": [str(Path(s).resolve()) for s in sources],
            "by": by, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    path = state_path()
    try:
        atomic.write_text(path, json.dumps(data, indent=1) + "\n")
    except OSError as e:
        print(f"tnquiz: warning: cannot record the last deck in {path}: {e.strerror or e}", file=sys.stderr)


def last_deck() -> LastDeck | None:
    """The remembered deck, or None (no state file yet). A damaged state file is ignored with a
    warning on stderr (it is only a convenience; the next build or quiz rewrites it)."""
    path = state_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        print(f"tnquiz: warning: cannot read {path}: {e.strerror or e}; ignoring it", file=sys.stderr)
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        cards, sources, by = data.get("cards"), data.get("sources", []), data.get("by", "build")
        if not isinstance(cards, str) or not cards:
            raise ValueError("`cards` is not a path")
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise ValueError("`sources` is not a list of paths")
        if by not in ("build", "quiz", "stats"):
            raise ValueError(f"`by` is {by!r}, expected build, quiz or stats")
        return LastDeck(Path(cards), tuple(Path(s) for s in sources), by)
    except (UnicodeDecodeError, ValueError) as e:
        print(f"tnquiz: warning: {path} is not a last-deck file ({e}); ignoring it", file=sys.stderr)
        return None


def _is_card_file(p: Path) -> bool:
    return p.suffix.lower() in _CARD_SUFFIXES


def _built_from(source: Path, last: LastDeck | None) -> Path | None:
    """The last built deck, if it was built from ``source`` (a card file or folder) and still exists."""
    if last is None or last.by != "build" or not last.cards.is_file():
        return None
    src = source.resolve()
    return last.cards if src in last.sources else None


def _from_sources(source: Path, what: str, last: LastDeck | None, command: str) -> Chosen:
    """Card files named where a built deck belongs: the deck the last build made of them, or a hint."""
    built = _built_from(source, last)
    if built is not None:
        return Chosen(built, f"built from {source} by the last `tnquiz build`")
    raise DeckChoiceError(
        f"{source} {what}, not a built deck: build it first with `tnquiz build {source} --out DIR`, "
        f"then `tnquiz {command} DIR`")


def resolve(arg: Path | None, command: str, last: LastDeck | None) -> Chosen:
    """The cards.json for ``tnquiz quiz|stats [DECK]``, given the remembered deck (:func:`last_deck`);
    raises :class:`DeckChoiceError` with a hint."""
    if arg is None:
        if last is not None and last.cards.is_file():
            what = "the last deck built" if last.by == "build" else "the last deck used"
            return Chosen(last.cards, f"{what}; `tnquiz {command} FOLDER` picks another")
        if DEFAULT_CARDS.is_file():
            return Chosen(DEFAULT_CARDS, f"in this folder; `tnquiz {command} FOLDER` picks another")
        raise DeckChoiceError(
            f"no built deck here ({DEFAULT_CARDS} is missing) and none remembered: run `tnquiz build` "
            f"first (`tnquiz build mycards/ --out mydeck/`), then `tnquiz {command}` or "
            f"`tnquiz {command} mydeck/`")
    hint = (f"pass a folder written by `tnquiz build` (it holds {CARDS_JSON}) or that {CARDS_JSON}, "
            f"e.g. `tnquiz {command} build/`")
    if arg.is_dir():
        if (arg / CARDS_JSON).is_file():
            return Chosen(arg / CARDS_JSON, "given")
        if (arg / DEFAULT_CARDS).is_file():
            return Chosen(arg / DEFAULT_CARDS, "given")
        if any(_is_card_file(p) for p in arg.iterdir()):
            return _from_sources(arg, "holds card files (*.yaml)", last, command)
        raise DeckChoiceError(f"no {CARDS_JSON} in {arg}: {hint}")
    if arg.is_file():
        if _is_card_file(arg):
            return _from_sources(arg, "is a card file", last, command)
        return Chosen(arg, "given")
    raise DeckChoiceError(f"no such file or folder: {arg}; {hint} (run `tnquiz build` first)")
