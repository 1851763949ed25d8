"""``build/cards.json``: every card with its verified answer (documented in docs/cards-json.md)."""

from __future__ import annotations

import json
from pathlib import Path

from generator import atomic
from generator.model import Deck


def write_cards_json(deck: Deck, out_dir: Path) -> Path:
    """Stable key order and indentation: the same deck always gives the same, readable bytes.

    Replaced atomically: a reader sees the old complete file or the new one.
    """
    text = json.dumps(deck.to_dict(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    return atomic.write_text(out_dir / "cards.json", text)  # a lone surrogate is escaped, never fatal
