"""``tnquiz lint``: find cards that are right but teach badly (see :mod:`generator.lint.checks`)."""

from generator.lint.checks import (
    CHECKS,
    CONFIG_NAME,
    Finding,
    LintConfig,
    LintResult,
    config_for,
    find_config,
    lint,
    load_config,
)

__all__ = ["CHECKS", "CONFIG_NAME", "Finding", "LintConfig", "LintResult", "config_for", "find_config", "lint",
           "load_config"]
