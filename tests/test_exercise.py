"""`kind: exercise`: the loader's rules, the build's reference run and checks (real worker, real
torch), and grading a learner's attempt in the worker (``Grader``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generator.api import check
from generator.execute.cache import Cache
from generator.execute.runner import Grader
from generator.load import load
from generator.model import BuiltCard, Deck

HWC = """\
  - id: ex-hwc
    question: Turn `x` (N, H, W, C) into `y` (N, C, H, W).
    setup: x = torch.rand(2, 4, 5, 3)
    solution: y = x.permute(0, 3, 1, 2)
    answer: y
    variants:
      - x = torch.rand(1, 2, 2, 1)
      - x = torch.rand(3, 7, 1, 4)
    hint: permute takes the new order.
"""


def problems_of(path: Path) -> list[str]:
    return [str(p) for p in load([path]).problems]


# --- loading ---------------------------------------------------------------------------------------

def test_solution_makes_an_exercise_with_its_fields(write_cards) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("deck: D\ncards:\n" + HWC)
    [card] = load([p]).cards
    assert (card.kind, card.solution, card.solution_line, card.variants, card.variants_line, card.hint) == (
        "exercise", "y = x.permute(0, 3, 1, 2)", 6, ("x = torch.rand(1, 2, 2, 1)", "x = torch.rand(3, 7, 1, 4)"), 8,
        "permute takes the new order.")
    assert card.run_spec()["variants"] == list(card.variants)


@pytest.mark.parametrize(("extra", "message"), [
    ("    code: y = x\n", ":7 [e]: an exercise has no `code` (the learner writes the code: put the reference in `solution`)"),
    ("    choices:\n      - x\n", ":8 [e]: an exercise has no `choices` (the learner writes code, there is nothing to choose)"),
    ("    tolerance: 2\n", ":7 [e]: `tolerance`: expected a number above 0 and below 1 (values compared with `allclose` at this tolerance), found an integer 2"),
    ("    variants: []\n", ":7 [e]: `variants`: expected a list of setups (Python code as strings), found []"),
    ("    variants:\n      - 'x = (1'\n", ":8 [e]: `variants[0]`: expected valid Python, found a SyntaxError: '(' was never closed"),
])
def test_exercise_rules_are_located_problems(write_cards, extra: str, message: str) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("deck: D\ncards:\n  - id: e\n    question: q\n    solution: y = 1\n    answer: y\n" + extra)
    assert problems_of(p) == [f"{p}{message}"]


def test_exercise_fields_need_a_solution(write_cards) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("deck: D\ncards:\n  - id: a\n    question: q\n    answer: '1'\n    hint: h\n"
                    "  - id: b\n    question: q\n    kind: exercise\n    answer: y\n")
    assert problems_of(p) == [
        f"{p}:6 [a]: `hint` belongs to an exercise: expected `solution` on the card, found none",
        f"{p}:9 [b]: `kind: exercise` expected `solution` (the reference code the learner's code replaces), found none"]


# --- the build -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuiltCard]:
    """One real build of exercises that pass and that the build must refuse."""
    d = tmp_path_factory.mktemp("ex")
    (d / "ex.yaml").write_text("deck: T::Ex\ncards:\n" + HWC + """\
  - id: ex-blank
    question: A blank passes.
    setup: x = torch.rand(2, 3)
    solution: y = x
    answer: x
  - id: ex-same
    question: A variant that changes nothing.
    setup: x = torch.arange(6).reshape(2, 3)
    solution: y = x[:, 0]
    answer: y
    variants:
      - x = torch.arange(6).reshape(2, 3)
      - x = torch.arange(9).reshape(3, 3)
  - id: ex-variant-fails
    question: The solution fails on a variant.
    setup: x = torch.zeros(2, 3)
    solution: y = x.view(3, 2)
    answer: y
    variants:
      - x = torch.zeros(3, 2).t()
  - id: ex-raise
    question: Make `.view(-1)` fail on `t`.
    setup: t = torch.rand(2, 3).t()
    solution: t.view(-1)
    raises: RuntimeError
  - id: ex-softmax
    question: Softmax of each row.
    setup: x = torch.tensor([[1., 2., 3.], [0., 0., 0.]])
    solution: y = torch.softmax(x, dim=1)
    answer: y
    tolerance: 0.00001
    variants:
      - x = torch.tensor([[5., -5.]])
  - id: ex-big
    question: Double a big tensor.
    setup: x = torch.arange(2000.)
    solution: y = x * 2
    answer: y
    timeout: 3
    variants:
      - x = torch.arange(3000.)
  - id: ex-int
    question: Conv output height.
    setup: H, k = 32, 5
    solution: h = H - k + 1
    answer: h
    variants:
      - H, k = 10, 3
""", encoding="utf-8")
    result = check([d / "ex.yaml"], cache=Cache(d / "cache"), jobs=1)
    assert result.problems == ()
    # through cards.json, as the quiz reads it
    deck = Deck.from_dict(json.loads(json.dumps(result.deck.to_dict())))
    return {c.id: c for c in deck.cards}


def test_the_build_stores_the_solution_result_on_every_input(built: dict[str, BuiltCard]) -> None:
    c = built["ex-hwc"]
    assert (c.status, c.card.kind, c.answer.shape if c.answer else None) == ("ok", "exercise", (2, 3, 4, 5))
    assert [a.shape for a in c.variant_answers] == [(1, 1, 2, 2), (3, 4, 7, 1)]
    assert c.card.solution == "y = x.permute(0, 3, 1, 2)" and c.card.hint == "permute takes the new order."


def test_an_exercise_that_tests_nothing_fails_the_build(built: dict[str, BuiltCard]) -> None:
    blank, same = built["ex-blank"], built["ex-same"]
    assert (blank.status, same.status) == ("failed", "failed")
    assert blank.reason is not None and blank.reason.endswith(
        "[ex-blank]: a blank answer passes: expected `answer` to need the learner's code "
        "(with no code at all it already equals the solution's)")
    assert same.reason is not None and same.reason.endswith(
        "[ex-same]: variant 1 tests nothing: expected it to change the result, found the same answer as an earlier input")
    assert ":22 [ex-same]" in same.reason  # the `variants:` line


def test_a_solution_failing_on_a_variant_is_a_located_failure(built: dict[str, BuiltCard]) -> None:
    c = built["ex-variant-fails"]
    assert c.status == "failed" and c.reason is not None
    first = c.reason.splitlines()[0]
    assert first.startswith(c.card.file + ":") and "[ex-variant-fails]: variant 1: RuntimeError: view size" in first
    assert c.reason.splitlines()[1].endswith(": y = x.view(3, 2)")  # the solution's line in the YAML


# --- grading -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def grader() -> Iterator[Grader]:
    g = Grader()
    g.start()
    yield g
    g.close()


@pytest.mark.parametrize(("card_id", "attempt", "correct", "message"), [
    ("ex-hwc", "y = x.movedim(3, 1)", True, "same result as the solution on all 3 inputs"),
    ("ex-hwc", "y = x.permute(0, 2, 3, 1)", False, "on the card's setup: shape (2, 5, 3, 4), expected (2, 3, 4, 5)"),
    ("ex-hwc", "n, h, w, c = x.shape\ny = x.reshape(n, c, h, w)", False, "on the card's setup: values differ at [0, 0, 0, 1]: "),
    ("ex-hwc", "y = x\ny = y.view(-1, 5)", False, "on the card's setup: shape (24, 5), expected (2, 3, 4, 5)"),
    ("ex-hwc", "z = x\ny = z.view(7, -1)", False, "on the card's setup: raised RuntimeError: shape '[7, -1]' is invalid for input of size 120 (line 2: `y = z.view(7, -1)`)"),
    ("ex-hwc", "y = x.permute(0, 3, 1, 2", False, "on the card's setup: raised SyntaxError: '(' was never closed"),
    ("ex-hwc", "y = x.permute(0, 3, 1, 2) if x.shape[0] == 2 else x", False, "on variant 1 (`x = torch.rand(1, 2, 2, 1)`): shape (1, 2, 2, 1), expected (1, 1, 2, 2)"),
    ("ex-hwc", "y = x.permute(0, 3, 1, 2).double()", False, "on the card's setup: dtype torch.float64, expected torch.float32"),
    ("ex-hwc", "y = x.permute(0, 3, 1, 2).tolist()", False, "on the card's setup: got list [[[["),
    ("ex-raise", "t.reshape(-1)", False, "on the card's setup: finished without an exception, expected RuntimeError to be raised"),
    ("ex-raise", "t.view(6)", True, "same result as the solution on the card"),
    ("ex-raise", "t.view(-1, 7)", True, "same result as the solution on the card"),
    ("ex-raise", "t.foo()", False, "on the card's setup: raised AttributeError: 'Tensor' object has no attribute 'foo', expected RuntimeError"),
    ("ex-softmax", "y = x.exp() / x.exp().sum(dim=1, keepdim=True)", True, "same result as the solution on all 2 inputs"),
    ("ex-softmax", "y = torch.softmax(x, dim=0)", False, "on the card's setup: values differ at [0, 0]: "),
    ("ex-big", "y = x + x", True, "same result as the solution on all 2 inputs"),  # > 1000 values: a live reference
    ("ex-big", "y = x * 2\ny[1999] = 0", False, "on the card's setup: values differ at [1999]: 0.0, expected 3998.0"),
    ("ex-int", "h = (H - k) // 1 + 1", True, "same result as the solution on all 2 inputs"),
    ("ex-int", "h = float(H - k + 1)", False, "on the card's setup: got 28.0, expected 28"),
])
def test_an_attempt_is_graded_in_the_worker(grader: Grader, built: dict[str, BuiltCard], card_id: str,
                                            attempt: str, correct: bool, message: str) -> None:
    graded = grader.grade(built[card_id], attempt)
    assert graded.correct is correct
    assert graded.message.startswith(message), graded.message


def test_an_endless_attempt_times_out_and_the_grader_goes_on(grader: Grader, built: dict[str, BuiltCard]) -> None:
    graded = grader.grade(built["ex-big"], "while True:\n    pass")
    assert (graded.correct, graded.message) == (False, "timed out after 3 s and was stopped (an endless loop?)")
    assert grader.grade(built["ex-big"], "y = 2 * x").correct is True


def test_an_attempt_cannot_reach_the_grader(grader: Grader, built: dict[str, BuiltCard]) -> None:
    """Exiting, printing to the protocol stream or changing torch's state dies with the attempt."""
    assert grader.grade(built["ex-hwc"], "import os\nos._exit(3)").correct is None
    assert grader.grade(built["ex-hwc"], "torch.set_default_dtype(torch.float64)\nprint('{}')\ny = x.movedim(3, 1)").correct is True
    assert grader.grade(built["ex-hwc"], "y = x.movedim(3, 1)").correct is True


# --- Anki and the HTML page: self-graded, the solution and its results on the back -----------------

def _ok_deck(built: dict[str, BuiltCard]) -> Deck:
    return Deck(cards=tuple(c for c in built.values() if c.status == "ok"), generator="tnquiz test",
                torch_version="2.13.0+cpu")


def test_anki_shows_the_task_on_the_front_and_the_solution_with_its_results_on_the_back(
        built: dict[str, BuiltCard], tmp_path: Path) -> None:
    from anki.collection import Collection
    from anki_helpers import import_apkg, visible_text

    from generator.render import anki as ra

    (apkg,) = ra.write_apkg(_ok_deck(built), tmp_path / "out")
    col = Collection(str(tmp_path / "collection.anki2"))
    try:
        log = import_apkg(col, apkg)
        assert len(log.new) == 5 and not log.conflicting
        (cid,) = col.find_cards('"Id:ex-hwc"')
        card = col.get_card(cid)
        assert card.note().note_type()["name"] == "tnquiz: front/back"
        q, a = visible_text(card.question()), visible_text(card.answer())
    finally:
        col.close()
    front = q.split("Turn x (N, H, W, C)", 1)[1]
    assert "x = torch.rand(2, 4, 5, 3)" in front and "Compared with the solution's: y" in front
    assert "permute(0, 3, 1, 2)" not in front
    back = a.split("Solution", 1)[1]
    assert "y = x.permute(0, 3, 1, 2)" in back and "Hint permute takes the new order." in back
    results = back.split("Its results (compare yours by eye)", 1)[1]
    assert [s in results for s in ("x = torch.rand(2, 4, 5, 3)", "x = torch.rand(1, 2, 2, 1)",
                                   "x = torch.rand(3, 7, 1, 4)", "tensor([[[[")] == [True] * 4


@pytest.mark.browser
def test_the_html_page_lets_the_learner_compare_and_grade_themselves(built: dict[str, BuiltCard],
                                                                    browser: Any, tmp_path: Path) -> None:
    from generator.render.html import write_html

    page_file = write_html(_ok_deck(built), tmp_path)
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_file.as_uri())
        page.wait_for_selector("html[data-ready]")
        for _ in range(10):
            if page.locator('#card article[data-id="ex-hwc"]').count():
                break
            page.click("#b-skip")
        assert "Compared with the solution's" in page.inner_text("#card")
        page.click("#answer")
        page.keyboard.type("z = x")
        page.keyboard.press("Enter")  # a new line, not a submit
        page.keyboard.type("y = z.movedim(3, 1)")
        assert page.locator("#verdict").count() == 0
        page.keyboard.press("Enter")
        page.keyboard.press("Enter")  # Enter on an empty line submits
        page.wait_for_selector("#verdict")
        assert page.inner_text("#verdict") == "Compare with the solution"
        assert page.inner_text("#p-text").startswith("0 of ")  # not answered until graded
        feedback = page.inner_text("#feedback")
        assert "z = x\ny = z.movedim(3, 1)" in feedback and "y = x.permute(0, 3, 1, 2)" in feedback
        assert feedback.count("tensor([[[[") == 3  # the solution's result on each input
        assert "x = torch.rand(1, 2, 2, 1)" in feedback and "Hint: permute takes the new order." in feedback
        page.click("#b-got")
        assert page.inner_text("#verdict") == "✓ Got it"
        assert page.inner_text("#p-text").startswith("1 of ") and "1 correct" in page.inner_text("#p-text")
        assert errors == []
    finally:
        ctx.close()


@pytest.mark.parametrize(("change", "message"), [
    ({"spec": {"solution": "y = x", "tolerance": "abc"}}, "card 'e': tolerance must be a number above 0 and below 1, found 'abc'"),
    ({"spec": {"solution": "y = x", "variants": [1]}}, "card 'e': variants must be a list of text"),
    ({"timeout": float("nan")}, "card 'e': timeout must be above 0 and at most 600 seconds, found nan"),
    ({"hint": ["x"]}, "card 'e': solution and hint must be text"),
])
def test_a_hostile_exercise_in_cards_json_is_refused(change: dict[str, object], message: str) -> None:
    d: dict[str, object] = {"id": "e", "deck": "D", "question": "q", "kind": "exercise", "status": "ok",
                            "spec": {"answer": "y", "solution": "y = x"}, **change}
    with pytest.raises(ValueError) as e:
        BuiltCard.from_dict(d)
    assert str(e.value) == message


# --- the protocol: grade jobs and verdicts are typed and checked like every message --------------

def test_a_grade_job_and_its_verdict_round_trip_and_malformed_ones_are_refused(built: dict[str, BuiltCard]) -> None:
    from generator.execute.messages import Job, Reply, ReplyStatus, parse_result

    job = Job.for_grade(2, "n0nce", built["ex-hwc"], "y = x.movedim(3, 1)", 2.0)
    assert Job.from_dict(json.loads(json.dumps(job.to_dict()))) == job
    assert (job.kind, len(job.references), job.device) == ("grade", 3, "cpu")
    for change in ({"references": job.to_dict()["references"][:2]}, {"tolerance": 1.5}, {"attempt": 3},
                   {"variants": "x = 1"}, {"kind": "exercise"}):
        with pytest.raises(ValueError, match="wrong type or value"):
            Job.from_dict({**job.to_dict(), **change})
    reply = Reply(2, "n0nce", ReplyStatus.OK, verdict={"correct": True, "message": "same", "variant": None})
    assert Reply.from_dict(json.loads(json.dumps(reply.to_dict())), kind="grade") == reply
    for bad in ({"correct": 1, "message": "m"}, {"correct": False, "message": None},
                {"correct": False, "message": "m", "variant": "1"}, ["not", "a", "verdict"]):
        with pytest.raises(ValueError, match="wrong type or value"):
            Reply.from_dict({**reply.to_dict(), "result": bad}, kind="grade")
    with pytest.raises(ValueError, match="wrong type or value"):  # an exercise's result, read back strictly
        parse_result({"answer": None, "variants": [{"type": "nope", "text": ""}]})
    with pytest.raises(ValueError, match="wrong type or value"):
        parse_result({"answer": None, "same_variants": [True]})


# --- the session: the proposed rating follows the verdict; the attempt is logged --------------------

def test_the_proposed_rating_follows_the_verdict_and_attempts_are_logged(built: dict[str, BuiltCard],
                                                                        tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from generator.model import Graded
    from generator.quiz.scheduler import Rating, make_scheduler
    from generator.quiz.session import Session, build_queue
    from generator.quiz.store import Store

    now = datetime(2025, 3, 1, 9, tzinfo=timezone.utc)
    with Store(tmp_path / "r.db") as store:
        session = Session(build_queue([built["ex-hwc"]], {}, now), store, make_scheduler(fuzz=False))
        cases = [("y = x.t()", Graded(False, "on the card's setup: shape"), Rating.Again, False),
                 ("y = x.movedim(3, 1)\n", Graded(True, "same result"), Rating.Good, True),
                 ("import os; os._exit(1)", Graded(None, "could not grade it"), None, None),
                 ("", None, Rating.Again, None)]  # given up: the solution is shown, Again proposed
        for typed, graded, proposed, verdict in cases:
            reveal = session.reveal(typed, now, 1200, graded=graded)
            assert reveal.proposed == proposed
            assert (bool(reveal.verdict) if reveal.verdict is not None else None) == verdict
            session.rate(reveal, Rating.Again, 1500)
        rows = store.reviews()
    assert [(r.attempt, r.feedback, r.correct) for r in rows] == [
        ("y = x.t()", "on the card's setup: shape", False), ("y = x.movedim(3, 1)", "same result", True),
        ("import os; os._exit(1)", "could not grade it", None), (None, None, None)]
    assert [r.duration_ms for r in rows] == [1500] * 4
