"""``build/cards.json``: every card with its verified answer (documented in docs/cards-json.md)."""

from __future__ import annotations

import json
from pathlib import Path

from generator.model import Deck


def write_cards_json(deck: Deck, out_dir: Path) -> Path:
    """Stable key order and indentation: the same deck always gives the same, readable bytes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "cards.json"
    text = json.dumps(deck.to_dict(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
    return path
