"""tnquiz: PyTorch flashcards whose every answer is verified by running it.

The library API (docs/api.md)::

    from generator import build, check, load, render

Importing the package is cheap: the API is loaded on first use (``generator.api``), and nothing
here imports torch, jinja2 or genanki.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "build", "check", "clear_cache", "list_cards", "load", "render"]

if TYPE_CHECKING:  # pragma: no cover
    from generator.api import build, check, clear_cache, list_cards, load, render


def __getattr__(name: str) -> Any:
    if name in __all__:
        from generator import api

        return getattr(api, name)
    raise AttributeError(f"module 'generator' has no attribute {name!r}")
