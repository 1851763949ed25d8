"""``tnquiz lint``: find cards that are right but teach badly (see :mod:`generator.lint.checks`).

The names below load :mod:`generator.lint.checks` (and the runner behind it) on first use, so that
registering the command costs every other command nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CHECKS", "CONFIG_NAME", "Finding", "LintConfig", "LintResult", "config_for", "find_config", "lint",
           "load_config"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from generator.lint import checks

        return getattr(checks, name)
    raise AttributeError(f"module 'generator.lint' has no attribute {name!r}")
