"""Every case of the shared grading table through the Python grader (grade.js runs the same table)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generator.grading import grade

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "grading_cases.json").read_text(encoding="utf-8"))["cases"]


def _case_id(case: dict[str, Any]) -> str:
    return f"{case['kind']}:{case['typed']!r}->{case['correct']}"


def test_table_is_not_empty() -> None:
    assert len(CASES) > 50
    assert {c["kind"] for c in CASES} >= {"shape", "value", "dtype", "error", "output", "choice", "cloze"}


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_grading_case(case: dict[str, Any]) -> None:
    verdict = grade(case["kind"], case["answer"], case["typed"], case.get("options"), case.get("cloze"),
                    case.get("equivalents", ()))
    assert verdict.correct is case["correct"], case.get("note")
