"""``build/cards.json``: every card with its verified answer (documented in docs/cards-json.md)."""

from __future__ import annotations

import dataclasses
import json
import math
from json.encoder import encode_basestring
from pathlib import Path

from generator import atomic
from generator.model import BuiltCard, Deck
from generator.render.memo import Pieces


def write_cards_json(deck: Deck, out_dir: Path, *, pieces: Pieces | None = None) -> Path:
    """Stable key order and indentation: the same deck always gives the same, readable bytes.

    Replaced atomically: a reader sees the old complete file or the new one.
    """
    text = cards_json_text(deck, pieces or Pieces(""))
    return atomic.write_text(out_dir / "cards.json", text)  # a lone surrogate is escaped, never fatal


def _dump(value: object) -> str:
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False)


_ATOMS: dict[object, str] = {True: "true", False: "false", None: "null"}


class _Unusual(Exception):
    """A value :func:`dump_indented` leaves to ``json.dumps`` (a key that is not text, a type JSON
    has no plain rule for)."""


def _float(f: float) -> str:
    """A float as json writes it (``allow_nan``: NaN and the infinities as JavaScript names)."""
    if math.isfinite(f):
        return float.__repr__(f)
    return "NaN" if f != f else "Infinity" if f > 0 else "-Infinity"


def _indented(value: object, pad: str, out: list[str]) -> None:
    """``value`` as ``json.dumps(indent=1, sort_keys=True, ensure_ascii=False)`` writes it, at the
    indentation ``pad``, appended to ``out``."""
    if isinstance(value, str):
        out.append(encode_basestring(value))
    elif value is None or value is True or value is False:
        out.append(_ATOMS[value])
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_float(value))
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = pad + " "
        sep = "{\n" + inner
        for key in sorted(value):
            if not isinstance(key, str):
                raise _Unusual
            out.append(sep)
            out.append(encode_basestring(key))
            out.append(": ")
            _indented(value[key], inner, out)
            sep = ",\n" + inner
        out.append("\n" + pad + "}")
    elif isinstance(value, list | tuple):
        if not value:
            out.append("[]")
            return
        inner = pad + " "
        sep = "[\n" + inner
        for item in value:
            out.append(sep)
            _indented(item, inner, out)
            sep = ",\n" + inner
        out.append("\n" + pad + "]")
    else:
        raise _Unusual


def dump_indented(value: object, pad: str = "") -> str:
    """``json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False)`` with every line after the
    first indented by ``pad`` more, the same text, in about half the time: ``indent=`` makes
    json use its pure-Python encoder, this walks the value once and leaves each string to json's C
    escaper. Anything but plain JSON values with text keys is left to ``json.dumps``."""
    out: list[str] = []
    try:
        _indented(value, pad, out)
    except _Unusual:
        return _dump(value).replace("\n", "\n" + pad)
    return "".join(out)


def card_entry(bc: BuiltCard) -> str:
    """One card as it stands in the file's ``cards`` list (two levels deep: each line after the first
    indented by two more spaces)."""
    return dump_indented(bc.to_dict(), "  ")


def cards_json_text(deck: Deck, pieces: Pieces) -> str:
    """``json.dumps(deck.to_dict(), indent=1, sort_keys=True, ensure_ascii=False)`` plus a newline,
    assembled from each card's entry (a piece: kept between builds)."""
    head = _dump(dataclasses.replace(deck, cards=()).to_dict())
    empty = '\n "cards": []'  # a top-level key: JSON text has no raw newline inside a string
    if head.count(empty) != 1:
        raise ValueError("cards.json: the deck's own fields must hold the card list once")
    entries = [pieces.text("cards.json", bc, card_entry) for bc in deck.cards]
    cards = "[\n  " + ",\n  ".join(entries) + "\n ]" if entries else "[]"
    return head.replace(empty, f'\n "cards": {cards}') + "\n"
