"""``build/cards.json``: every card with its verified answer (documented in docs/cards-json.md)."""

from __future__ import annotations

import json
from pathlib import Path

from generator.model import Deck


def cards_json_text(deck: Deck) -> str:
    """The file's exact text: stable key order, so the same deck always gives the same bytes."""
    return json.dumps(deck.to_dict(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write_cards_json(text: str, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "cards.json"
    path.write_text(text, encoding="utf-8")
    return path
