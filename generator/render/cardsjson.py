"""``build/cards.json``: every card with its verified answer (documented in docs/cards-json.md)."""

from __future__ import annotations

import dataclasses
import json
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


def card_entry(bc: BuiltCard) -> str:
    """One card as it stands in the file's ``cards`` list (two levels deep: each line after the first
    indented by two more spaces; JSON text holds no raw newline inside a string)."""
    return _dump(bc.to_dict()).replace("\n", "\n  ")


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
