"""Former name of the library API, kept for callers not yet moved: use :mod:`generator.api`.

``build(paths, cache=...)`` here runs and verifies without writing anything (``api.check``);
``load_paths(paths)`` is ``api.load``.
"""

from __future__ import annotations

from generator.api import check as build
from generator.api import load as load_paths

__all__ = ["build", "load_paths"]
