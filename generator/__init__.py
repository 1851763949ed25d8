"""tnquiz: PyTorch flashcards whose every answer is verified by running it.

The library API (docs/api.md)::

    from generator import build, check, load, render

Importing the package is cheap: the API is loaded on first use (``generator.api``), and nothing
here imports torch, jinja2 or genanki.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "build", "check", "clear_cache", "list_cards", "load", "render"]
_API = frozenset(__all__) - {"__version__"}

if TYPE_CHECKING:  # pragma: no cover
    from generator.api import build, check, clear_cache, list_cards, load, render


def __getattr__(name: str) -> Any:
    if name in _API:
        from generator import api

        return getattr(api, name)
    raise AttributeError(f"module 'generator' has no attribute {name!r}")


class _Package(types.ModuleType):
    """``generator.load`` and ``generator.render`` are also the loader and renderer modules. Importing
    them sets the package attribute of the same name; here the attribute stays the API function,
    and the modules are imported by their full names (``from generator.load import ...``)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _API and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
