"""The lint checks' names and the config file name: light, so that `tnquiz --help` and every other
command can describe `tnquiz lint` without loading the checks (and the runner behind them)."""

from __future__ import annotations

CHECKS: dict[str, str] = {
    "random": "the answer changes when every seed is shifted by one",
    "duplicates": "two cards with the same answer and the same (or nearly the same) code",
    "true-false": "too many True/False answers in the deck, or too many of one of them",
    "length": "a question, answer, setup, code or explanation longer than a phone screen shows",
    "kind": "a declared `kind` that does not fit the live answer",
    "params-leftovers": "`bool(1)` or dash-joined numbers left in a question by `params`",
    "cloze-undetermined": "the blank is a keyword argument whose default gives the same result",
    "contradicted": "an `expect` that the live answer contradicts",
    "failed": "the card did not run (the other checks could not look at its answer)",
}

CONFIG_NAME = "lint.conf"
