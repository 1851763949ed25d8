"""The runner <-> worker messages and the strict parser of results read back (replies, cache entries)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from generator.execute.messages import (
    TEXT_CAP,
    Job,
    Reply,
    ReplyStatus,
    clean_text,
    parse_result,
    truncate,
)
from generator.model import Card, RunResult

CARD = Card(id="c", deck="D", file="cards.yaml", line=3, question="q", kind="", code="x = 1", answer="x",
            choices=("2",), requires=("numpy",), seed=7, timeout=2.5)

GOOD_RESULT: dict[str, Any] = {
    "answer": {"type": "shape", "text": "torch.Size([2])", "shape": [2]},
    "choices": [{"type": "python", "text": "2", "value": 2}],
    "stdout": "hi\n", "error": None, "torch_version": "2.13.0+cpu", "device": "cpu", "seconds": 0.01,
    "skipped": None,
}


def test_a_job_round_trips_through_json() -> None:
    job = Job.for_card(4, "n0nce", CARD, "cpu", 2.5)
    back = Job.from_dict(json.loads(json.dumps(job.to_dict())))
    assert back == job
    assert back.where == "cards.yaml:3 [c]"
    assert back.choices == ("2",) and back.requires == ("numpy",)


@pytest.mark.parametrize("change", [
    {"timeout": float("nan")}, {"timeout": float("inf")}, {"timeout": 0}, {"timeout": "1"},
    {"seed": 2**63}, {"seed": -1}, {"job": True}, {"nonce": 5}, {"choices": "x"}, {"output": 1},
])
def test_a_malformed_job_is_refused(change: dict[str, Any]) -> None:
    d = Job.for_card(1, "n", CARD, "cpu", 1.0).to_dict()
    d.update(change)
    with pytest.raises(ValueError, match="wrong type or value"):
        Job.from_dict(json.loads(json.dumps(d)))


def test_a_reply_round_trips_and_carries_a_parsed_result() -> None:
    reply = Reply(3, "abc", ReplyStatus.OK, result=parse_result(GOOD_RESULT))
    back = Reply.from_dict(json.loads(json.dumps(reply.to_dict())))
    assert back == reply
    assert isinstance(back.result, RunResult) and back.result.answer is not None
    assert back.result.answer.shape == (2,)
    timeout = Reply(3, "abc", ReplyStatus.TIMEOUT, reason="f:1 [c]: timed out")
    assert Reply.from_dict(timeout.to_dict()) == timeout


@pytest.mark.parametrize("data", [
    None, [], "ok", {"job": 1, "nonce": "n", "status": "fine"}, {"job": "1", "nonce": "n", "status": "ok"},
    {"job": 1, "nonce": "n", "status": "ok", "result": None},
    {"job": 1, "nonce": "n", "status": "timeout"},  # no reason
])
def test_a_malformed_reply_is_refused(data: Any) -> None:
    with pytest.raises(ValueError):
        Reply.from_dict(data)


@pytest.mark.parametrize("bad", [
    None, [], "x", 3,
    {**GOOD_RESULT, "answer": 5},
    {**GOOD_RESULT, "answer": {"type": "shape"}},
    {**GOOD_RESULT, "answer": {"type": "shape", "text": 1}},
    {**GOOD_RESULT, "answer": {"type": "nonsense", "text": "x"}},
    {**GOOD_RESULT, "answer": {"type": "shape", "text": "x", "shape": ["a"]}},
    {**GOOD_RESULT, "choices": {"a": 1}},
    {**GOOD_RESULT, "choices": [None]},
    {**GOOD_RESULT, "stdout": None},
    {**GOOD_RESULT, "error": "boom"},
    {**GOOD_RESULT, "error": {"message": "m", "frames": [["code"]]}},
    {**GOOD_RESULT, "seconds": "fast"},
    {**GOOD_RESULT, "skipped": 1},
])
def test_results_of_the_wrong_shape_are_refused(bad: Any) -> None:
    with pytest.raises(ValueError):
        parse_result(bad)


def test_unencodable_text_is_escaped_and_long_text_marked() -> None:
    assert clean_text("a\ud800b") == "a\\ud800b"
    parsed = parse_result({**GOOD_RESULT, "stdout": "a\ud800b"})
    assert parsed.stdout == "a\\ud800b"
    parsed.stdout.encode("utf-8")  # every writer can write it
    long = "x" * (TEXT_CAP + 10)
    assert truncate(long) == "x" * TEXT_CAP + "\n[tnquiz: truncated, 10 more characters]"
    assert truncate("short") == "short"


def test_a_session_job_and_its_reply_round_trip() -> None:
    steps = [{"line": 3, "code": "x = 1", "mode": "exec", "uses": [], "defines": ["x"], "error": None, "run": True}]
    job = Job.for_session(2, "n", {"kind": "session", "file": "notes/a.md", "line": 1, "id": "a", "seed": 0,
                                   "cuda": False, "step_timeout": 5, "timeout": 25.0, "steps": steps})
    assert job.kind == "session" and job.steps == tuple(steps)
    assert Job.from_dict(json.loads(json.dumps(job.to_dict()))) == job
    session = {"steps": [{"stdout": "a\ud800", "value": None, "error": None, "skipped": None}], "torch_version": "t"}
    reply = Reply.from_dict(Reply(2, "n", ReplyStatus.OK, session=session).to_dict(), kind="session")
    assert reply.session == {"steps": [{"stdout": "a\\ud800", "value": None, "error": None, "skipped": None}],
                             "torch_version": "t"}
    with pytest.raises(ValueError):
        Reply.from_dict({"job": 2, "nonce": "n", "status": "ok", "result": {"steps": "x"}}, kind="session")
    with pytest.raises(ValueError):
        Job.for_session(1, "n", {"file": "a.md", "steps": ["not a step"]})
