"""Where the bundled cards and templates are: inside the wheel, or at the top of a source checkout."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _bundled(name: str) -> Path:
    inside = _PKG / "_bundled" / name  # installed wheel (see pyproject's force-include)
    if inside.is_dir():
        return inside
    return _PKG.parent / name  # source checkout / editable install


def bundled_cards_dir() -> Path:
    return _bundled("cards")


def templates_dir() -> Path:
    return _bundled("templates")
