"""The lenient comparison of a note's claim with a step's result (results as session.py gives them)."""

from __future__ import annotations

from typing import Any

import pytest

from generator.importer.compare import claimed_exception, compare


def printed(text: str, random: bool = False) -> list[dict[str, Any]]:
    return [{"stdout": text, "value": None, "error": None, "skipped": None, "random": random}]


def raised(exc: str, message: str) -> list[dict[str, Any]]:
    return [{"stdout": "", "value": None, "skipped": None, "random": False,
             "error": {"type": "error", "text": f"{exc}: {message}", "exception": exc, "message": message}}]


@pytest.mark.parametrize("claimed", [
    "tensor([[0.1000, 0.2000],\n[0.3000, 0.4000]])",          # pasted flat: other spacing
    "tensor([[0.1, 0.2], [0.3, 0.4]])",                       # other print precision
    "tensor([[0.10000001, 0.2], [0.3, 0.4]])",
    "\n 0.1000  0.2000\n 0.3000  0.4000\n[torch.FloatTensor of size 2x2]\n",  # torch 0.3
    "Variable containing:\n 0.1  0.2\n 0.3  0.4\n[torch.FloatTensor of size 2x2]",
])
def test_tensors_printed_by_other_versions_are_confirmed(claimed: str) -> None:
    actual = "tensor([[0.1000, 0.2000],\n        [0.3000, 0.4000]])\n"
    assert compare("stdout", claimed, printed(actual)).verdict == "confirmed"


@pytest.mark.parametrize("claimed", [
    "tensor([[0.1000, 0.2000], [0.3000, 0.5000]])",
    "tensor([[0.1, 0.2, 0.3, 0.4]])",
    " 0.1  0.2\n 0.3  0.5\n[torch.FloatTensor of size 2x2]",
    "tensor([[0.1, 0.2], [0.3, 0.41]])",  # two decimals printed: 0.41 is not 0.4000
    "tensor([[0., 0.], [0., 0.]])",  # integral values are printed exactly
])
def test_other_numbers_or_shapes_are_contradicted(claimed: str) -> None:
    actual = "tensor([[0.1000, 0.2000],\n        [0.3000, 0.4000]])\n"
    assert compare("stdout", claimed, printed(actual)).verdict == "contradicted"


def test_exceptions_are_compared_by_type_name_only() -> None:
    got = raised("RuntimeError", "shape '[4]' is invalid for input of size 6")
    assert compare("stdout", "RuntimeError", got).verdict == "confirmed"
    assert compare("stdout", "RuntimeError: something else entirely", got).verdict == "confirmed"
    tb = "Traceback (most recent call last):\n  File \"x.py\", line 1\nRuntimeError: boom"
    assert claimed_exception(tb) == "RuntimeError"
    assert compare("stdout", tb, got).verdict == "confirmed"
    assert compare("stdout", "IndexError", got).verdict == "contradicted"
    v = compare("stdout", "tensor([1, 2])", got)
    assert (v.verdict, v.actual) == ("error", "RuntimeError: shape '[4]' is invalid for input of size 6")
    ran = compare("stdout", "ValueError", printed("tensor([1])\n"))
    assert ran.verdict == "contradicted" and "ran without raising" in ran.reason


def test_random_values_compare_structure_only() -> None:
    actual = "tensor([[0.4963, 0.7682],\n        [0.0885, 0.1320]])\n"
    assert compare("stdout", "tensor([[0.1, 0.2], [0.3, 0.4]])", printed(actual, random=True)).verdict == "random"
    assert compare("stdout", "tensor([0.1, 0.2, 0.3])", printed(actual, random=True)).verdict == "contradicted"
    # the digits agree: a seeded note reproduces, and nothing else is needed
    assert compare("stdout", actual, printed(actual, random=True)).verdict == "confirmed"


def test_values_use_the_quiz_grading_rules() -> None:
    size = [{"stdout": "", "error": None, "skipped": None, "random": False,
             "value": {"type": "shape", "text": "torch.Size([2, 3])", "shape": [2, 3]}}]
    for claimed in ("torch.Size([2, 3])", "(2, 3)", "[2,3]", "2x3"):
        assert compare("value", claimed, size).verdict == "confirmed"
    assert compare("value", "(3, 2)", size).verdict == "contradicted"
    dtype = [{"stdout": "", "error": None, "skipped": None, "random": False,
              "value": {"type": "dtype", "text": "torch.int64", "dtype": "torch.int64"}}]
    assert compare("value", "long", dtype).verdict == "confirmed"
    assert compare("value", "torch.float32", dtype).verdict == "contradicted"


def test_skipped_steps_skip_the_claim() -> None:
    got = [{"stdout": "", "value": None, "error": None, "random": False,
            "skipped": "needs a GPU: no CUDA device is available"}]
    v = compare("stdout", "cuda:0", got)
    assert (v.verdict, v.reason) == ("skipped", "needs a GPU: no CUDA device is available")


@pytest.mark.parametrize("claimed,actual", [
    ("(B, C, H, W)", "torch.Size([2, 3, 4, 5])\n"),
    ("1. switch the model to eval mode", "Net()\n"),
    ("batch x features", "torch.Size([2, 3])\n"),
    ("两个张量", "tensor([1, 2])\n"),
    ("tensor([1, 2])", ""),  # nothing came out to compare with
])
def test_descriptions_are_unchecked_not_contradicted(claimed: str, actual: str) -> None:
    assert compare("stdout", claimed, printed(actual)).verdict == "unchecked"


def test_words_the_output_has_are_compared() -> None:
    assert compare("stdout", "loss 0.6", printed("loss 0.5\n")).verdict == "contradicted"
    assert compare("stdout", "tensor([1, 2], dtype=torch.int32)", printed("tensor([1, 3], dtype=torch.int32)\n")
                   ).verdict == "contradicted"
    assert compare("stdout", "tensor([1., 2.], grad_fn=<AddBackward0>)",
                   printed("tensor([1., 3.], grad_fn=<MulBackward0>)\n")).verdict == "contradicted"
