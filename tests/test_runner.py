"""The runner with real torch: isolation between cards, timeouts, crashes, tracebacks, the cache."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from generator.execute.cache import Cache, key
from generator.execute.runner import EarlyWorker, run_cards
from generator.load import load
from generator.model import BuiltCard
from generator.verify import verify


def build(path: Path, cache: Cache, jobs: int = 1) -> dict[str, BuiltCard]:  # one worker: each starts torch
    loaded = load([path])
    assert loaded.problems == ()
    outcomes = run_cards(loaded.cards, cache=cache, jobs=jobs)
    return {o.card.id: verify(o) for o in outcomes}


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache")


# Each "polluter" changes a piece of global state; the "probe" after it must see the pristine state.
# Run on one worker so that polluter and probe really share a server process.
ISOLATION = """\
deck: Iso
cards:
  - id: a-pollute
    question: q
    code: |
      torch.set_default_dtype(torch.float64)
      torch.set_grad_enabled(False)
      torch.set_printoptions(precision=1)
      torch.set_num_threads(1 if torch.get_num_threads() > 1 else 2)
      import json, tabnanny
      torch.nn.Linear = None
      torch.manual_seed(1234)
      open("left-behind.txt", "w").write("x")
      GLOBAL_FROM_A = 1
    answer: "1"
  - id: probe-{n}
    params: {n: [b, c]}
    question: q
    code: |
      import os, sys
      state = dict(
          dtype=str(torch.get_default_dtype()),
          grad=torch.is_grad_enabled(),
          repr=repr(torch.tensor([1.23456])),
          threads=torch.get_num_threads(),
          tabnanny="tabnanny" in sys.modules,
          linear=torch.nn.Linear is not None,
          rand=torch.rand(1).item(),
          files=sorted(os.listdir(".")),
          leaked="GLOBAL_FROM_A" in globals(),
      )
    answer: state
"""


def test_nothing_one_card_does_changes_another(write_cards, cache: Cache) -> None:  # type: ignore[no-untyped-def]
    built = build(write_cards(ISOLATION), cache, jobs=1)
    assert built["a-pollute"].status == "ok"
    probe = built["probe-b"].answer
    assert probe is not None
    state = probe.value
    assert state["dtype"] == "torch.float32"
    assert state["grad"] is True
    assert state["repr"] == "tensor([1.2346])"
    assert state["tabnanny"] is False
    assert state["linear"] is True
    assert state["threads"] == 1  # the worker default (TNQUIZ_THREADS), not what a-pollute set
    assert state["files"] == []
    assert state["leaked"] is False
    import torch  # the test may import torch; the pipeline under test must not need to

    torch.manual_seed(0)
    assert state["rand"] == pytest.approx(torch.rand(1).item())  # seeded with the card's seed (0)
    # the same probe again, after everything else, sees exactly the same world
    assert built["probe-c"].answer is not None and built["probe-c"].answer.value == state


def test_files_written_by_a_card_are_removed(write_cards, cache: Cache, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("""\
deck: D
cards:
  - id: save-load
    question: q
    code: |
      import os
      torch.save(nn.Linear(2, 3).state_dict(), "model.pt")
      sd = torch.load("model.pt")
      where = os.getcwd()
    answer: (sorted(sd), tuple(sd["weight"].shape), where)
""")
    built = build(p, cache)["save-load"]
    assert built.status == "ok" and built.answer is not None
    keys, _, where = eval(built.answer.text)  # a tuple of plain values
    assert keys == ["bias", "weight"]
    assert not Path(where).exists()


CRASHES = """\
deck: D
cards:
  - id: loops
    question: q
    code: |
      while True:
          pass
    answer: "1"
    timeout: 1
  - id: exits
    question: q
    code: |
      import os
      os._exit(3)
    answer: "1"
  - id: segfaults
    question: q
    code: |
      import ctypes
      ctypes.string_at(0)
    answer: "1"
  - id: sys-exit
    question: q
    code: |
      import sys
      sys.exit(0)
    answer: "1"
  - id: fine
    question: q
    answer: torch.ones(2).sum().item()
"""


def test_timeouts_and_crashes_fail_alone_and_are_not_cached(write_cards, cache: Cache) -> None:  # type: ignore[no-untyped-def]
    p = write_cards(CRASHES)
    built = build(p, cache)
    assert built["loops"].status == "failed"
    assert built["loops"].reason == f"{p}:3 [loops]: timed out after 1 s and was killed"
    assert built["exits"].reason == f"{p}:10 [exits]: crashed: the interpreter exited with status 3 before giving a result"
    assert built["segfaults"].reason == f"{p}:16 [segfaults]: crashed: the interpreter was killed by SIGSEGV"
    # sys.exit is an exception like any other: a real (cacheable) result of the code
    assert built["sys-exit"].status == "failed" and "SystemExit: 0" in (built["sys-exit"].reason or "")
    assert built["fine"].status == "ok" and built["fine"].answer is not None
    assert built["fine"].answer.text == "2.0"
    cards = {c.id: c for c in load([p]).cards}
    assert cache.get(key(cards["loops"], "cpu")) is None
    assert cache.get(key(cards["exits"], "cpu")) is None
    assert cache.get(key(cards["segfaults"], "cpu")) is None
    assert cache.get(key(cards["sys-exit"], "cpu")) is not None
    assert cache.get(key(cards["fine"], "cpu")) is not None


def test_tracebacks_point_at_the_yaml_line(write_cards, cache: Cache) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("""\
deck: D
cards:
  - id: boom
    question: q
    setup: |
      x = torch.zeros(2, 3)
    code: |
      y = x + 1
      z = torch.cat([x, torch.zeros(3, 3)], dim=1)
    answer: z.shape
""")
    reason = build(p, cache)["boom"].reason or ""
    first, second = reason.splitlines()[:2]
    assert first.startswith(f"{p}:9 [boom]: RuntimeError: Sizes of tensors must match")
    assert second == f"  {p}:9: z = torch.cat([x, torch.zeros(3, 3)], dim=1)"


def test_raises_checks_the_exception_type(write_cards, cache: Cache) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("""\
deck: D
cards:
  - id: right-type
    question: q
    code: torch.zeros(2, 3).view(4)
    raises: RuntimeError
  - id: wrong-type
    question: q
    code: torch.zeros(2)[5]
    raises: ValueError
  - id: no-raise
    question: q
    code: torch.zeros(2)
    raises: RuntimeError
""")
    built = build(p, cache)
    ok = built["right-type"]
    assert ok.status == "ok" and ok.card.kind == "error" and ok.answer is not None
    assert ok.answer.exception == "RuntimeError"
    assert ok.answer.text == "RuntimeError: shape '[4]' is invalid for input of size 6"
    assert built["wrong-type"].reason == (
        f"{p}:9 [wrong-type]: expected `ValueError` to be raised, found IndexError: "
        "index 5 is out of bounds for dimension 0 with size 2\n"
        f"  {p}:9: torch.zeros(2)[5]")
    assert built["no-raise"].reason == (
        f"{p}:11 [no-raise]: expected `RuntimeError` to be raised, found that the code finished without an exception")


def test_kinds_are_inferred_and_answers_structured(write_cards, cache: Cache) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("""\
deck: D
cards:
  - {id: s, question: q, answer: "torch.zeros(2, 3).shape"}
  - {id: d, question: q, answer: "torch.arange(3).dtype"}
  - {id: t, question: q, answer: "torch.tensor([1., 2.]) / 3"}
  - {id: o, question: q, code: "print(torch.arange(3))", output: true}
  - {id: v, question: q, answer: "torch.zeros(2, 3).numel()"}
""")
    b = build(p, cache)
    assert {k: c.card.kind for k, c in b.items()} == {"s": "shape", "d": "dtype", "t": "value", "o": "output", "v": "value"}
    assert b["s"].answer and b["s"].answer.shape == (2, 3) and b["s"].answer.text == "torch.Size([2, 3])"
    assert b["d"].answer and b["d"].answer.dtype == "torch.int64"
    t = b["t"].answer
    assert t and t.text == "tensor([0.3333, 0.6667])" and t.shape == (2,) and t.dtype == "torch.float32"
    assert t.value == pytest.approx([1 / 3, 2 / 3])
    assert b["o"].answer and b["o"].answer.text == "tensor([0, 1, 2])\n"
    assert b["v"].answer and b["v"].answer.value == 6 and b["v"].torch_version.startswith("2.")


def test_choices_are_executed_and_must_differ(write_cards, cache: Cache) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("""\
deck: D
cards:
  - id: good
    question: q
    setup: "x = torch.zeros(2, 3)"
    answer: torch.stack([x, x]).shape
    choices: ["torch.cat([x, x]).shape", "torch.cat([x, x], dim=1).shape", "torch.cat([x, x], dim=2).shape"]
  - id: clash
    question: q
    setup: "x = torch.zeros(2, 3)"
    answer: torch.cat([x, x]).shape
    choices: ["torch.cat([x, x], dim=0).shape"]
""")
    b = build(p, cache)
    good = b["good"]
    assert good.status == "ok" and good.card.kind == "choice"
    texts = sorted(o.text for o in good.options)
    assert texts == sorted(["torch.Size([2, 2, 3])", "torch.Size([4, 3])", "torch.Size([2, 6])",
                            "IndexError: Dimension out of range (expected to be in range of [-2, 1], but got 2)"])
    assert [o.text for o in good.options if o.correct] == ["torch.Size([2, 2, 3])"]
    assert b["clash"].status == "failed"
    assert b["clash"].reason == (f"{p}:8 [clash]: choices: expected every option to differ, found "
                                 "`torch.cat([x, x], dim=0).shape` and `torch.cat([x, x]).shape` both give 'torch.Size([4, 3])'")


def test_expect_is_checked_with_the_lenient_rules(write_cards, cache: Cache) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("""\
deck: D
cards:
  - {id: shape-ok, question: q, answer: "torch.zeros(1, 2, 3).squeeze(0).shape", expect: "[2, 3]"}
  - {id: shape-wrong, question: q, answer: "torch.zeros(1, 2, 3).squeeze(1).shape", expect: "torch.Size([1, 3])"}
  - {id: dtype-ok, question: q, answer: "torch.ones(2).dtype", expect: float}
  - {id: num-ok, question: q, answer: "torch.tensor(2.0).sqrt().item()", expect: 1.41421}
  - {id: tuple-ok, question: q, answer: "(torch.is_tensor(1), 0)", expect: [false, 0]}
  - {id: tensor-ok, question: q, answer: "torch.arange(3) * 2", expect: [0, 2, 4]}
""")
    b = build(p, cache)
    assert [k for k, c in b.items() if c.problems] == ["shape-wrong"]
    assert b["shape-wrong"].problems[0] == (f"{p}:4 [shape-wrong]: expect contradicted by PyTorch\n"
                                            "Expected:\n    torch.Size([1, 3])\nGot:\n    torch.Size([1, 2, 3])")


def test_cache_hits_and_prose_edits_rerun_nothing(write_cards, cache: Cache) -> None:  # type: ignore[no-untyped-def]
    text = "deck: D\ncards:\n  - {id: a, question: first, answer: 'torch.zeros(2).shape', explain: one}\n"
    p = write_cards(text)
    first = run_cards(load([p]).cards, cache=cache)
    assert [o.cached for o in first] == [False]
    p.write_text(text.replace("first", "second wording").replace("one", "two"))
    again = run_cards(load([p]).cards, cache=cache)
    assert [o.cached for o in again] == [True]
    p.write_text(text.replace("zeros(2)", "zeros(3)"))
    changed = run_cards(load([p]).cards, cache=cache)
    assert [o.cached for o in changed] == [False]
    assert changed[0].result and changed[0].result.answer and changed[0].result.answer.text == "torch.Size([3])"
    off = Cache(cache.root, enabled=False)
    assert [o.cached for o in run_cards(load([p]).cards, cache=off)] == [False]


def test_requirements_skip_with_a_reason(write_cards, cache: Cache) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("""\
deck: D
cards:
  - {id: gpu, question: q, answer: "torch.zeros(2, device=device).device.type", device: cuda}
""")
    b = build(p, cache)["gpu"]
    import torch

    if torch.cuda.is_available():  # on a GPU machine the card runs for real
        assert b.status == "ok" and b.answer and b.answer.value == "cuda"
    else:
        assert b.status == "skipped" and b.reason == "requires cuda: no CUDA device is available"


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.cuda
@pytest.mark.skipif(not _has_cuda(), reason="needs a CUDA GPU: CI has none; runs on a GPU machine (see docs/performance.md)")
def test_cuda_cards_run_on_the_gpu_in_isolation(write_cards, cache: Cache) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("""\
deck: D
cards:
  - id: on-gpu
    question: q
    device: cuda
    code: |
      x = torch.ones(2, 3, device=device)
      torch.cuda.set_per_process_memory_fraction(0.5)
    answer: (x.device.type, str(x.sum().item()), torch.cuda.is_initialized())
  - id: numpy-of-cuda
    question: q
    device: cuda
    code: torch.ones(2, device=device).numpy()
    raises: TypeError
  - id: seeded-gpu
    question: q
    device: cuda
    answer: torch.rand(2, device=device).tolist()
  - id: seeded-gpu-again
    question: q
    device: cuda
    answer: torch.rand(2, device=device).tolist()
""")
    b = build(p, cache, jobs=1)
    assert b["on-gpu"].status == "ok" and b["on-gpu"].ran_on == "cuda"
    assert b["on-gpu"].answer and b["on-gpu"].answer.value == ["cuda", "6.0", True]
    err = b["numpy-of-cuda"].answer
    assert err and err.exception == "TypeError" and "cuda" in (err.message or "")
    assert b["seeded-gpu"].answer and b["seeded-gpu-again"].answer
    assert b["seeded-gpu"].answer.value == b["seeded-gpu-again"].answer.value  # same seed, fresh process


def test_a_missing_package_skips_without_starting_a_worker(write_cards, cache: Cache) -> None:  # type: ignore[no-untyped-def]
    import importlib.util

    p = write_cards("""\
deck: D
cards:
  - {id: tv, question: q, answer: "__import__('torchvision').__name__", requires: [torchvision]}
  - {id: nope, question: q, answer: "1", requires: [numpy], device: cuda}
""")
    outcomes = {o.card.id: o for o in run_cards(load([p]).cards, cache=cache)}
    if importlib.util.find_spec("torchvision") is None:
        assert outcomes["tv"].skipped == "requires torchvision: it is not installed"
        assert outcomes["tv"].executed is False
    else:  # installed: it runs, or is skipped (and cached) because it cannot be imported here
        assert outcomes["tv"].executed is True
        again = run_cards(load([p]).cards, cache=cache)
        assert again[0].executed is False and again[0].skipped == outcomes["tv"].skipped
    if not _has_cuda():
        assert outcomes["nope"].skipped == "requires cuda: no CUDA device is available"
        assert outcomes["nope"].executed is False


def test_cards_run_as_main_scripts_and_messages_are_clean(write_cards, cache: Cache) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("""\
deck: D
cards:
  - id: pickle-class
    question: q
    code: |
      class Net(nn.Module):
          def __init__(self):
              super().__init__()
              self.fc = nn.Linear(2, 2)
      torch.save(Net(), "m.pt")
      m = torch.load("m.pt", weights_only=False)
    answer: (type(m).__name__, type(m).__module__)
  - id: colored-message
    question: q
    code: raise RuntimeError("\\x1b[1mbold\\x1b[0m in " + __import__("os").getcwd() + "/file.pt")
    raises: RuntimeError
""")
    b = build(p, cache)
    assert b["pickle-class"].answer and b["pickle-class"].answer.value == ["Net", "__main__"]
    err = b["colored-message"].answer
    assert err and err.text == "RuntimeError: bold in file.pt"


def test_a_card_that_kills_its_worker_fails_alone(write_cards, cache: Cache) -> None:  # type: ignore[no-untyped-def]
    p = write_cards("""\
deck: D
cards:
  - {id: before, question: q, answer: "torch.zeros(1).shape"}
  - id: kills-server
    question: q
    code: |
      import os, signal
      os.kill(os.getppid(), signal.SIGKILL)
      import time
      time.sleep(5)
    answer: "1"
  - {id: after-1, question: q, answer: "torch.zeros(2).shape"}
  - {id: after-2, question: q, answer: "torch.zeros(3).shape"}
""")
    b = build(p, cache, jobs=1)
    assert b["kills-server"].status == "failed"
    assert (b["kills-server"].reason or "").startswith(f"{p}:4 [kills-server]: the worker process died")
    assert [b[k].status for k in ("before", "after-1", "after-2")] == ["ok", "ok", "ok"]
    # `after-1` was sent ahead to the worker that died before reading it: it ran on the next one
    assert b["after-1"].answer and b["after-1"].answer.text == "torch.Size([2])"
    assert b["after-2"].answer and b["after-2"].answer.text == "torch.Size([3])"


LANES = """\
deck: D
cards:
{cards}
  - id: kills-its-lane
    question: q
    code: |
      import os, signal, time
      time.sleep(0.3)
      os.kill(os.getppid(), signal.SIGKILL)
      time.sleep(5)
    answer: "1"
"""
WHERE = """\
  - id: where-{i}
    question: q
    code: |
      import os, time
      time.sleep(0.2)
      lane = os.getppid()
      with open(f"/proc/{{lane}}/stat") as fh:
          host = int(fh.read().rsplit(")", 1)[1].split()[1])
    answer: (lane, host)
"""


def test_several_workers_are_lanes_of_one_torch_import(write_cards, cache: Cache) -> None:  # type: ignore[no-untyped-def]
    """Two workers: each card's server is a lane forked from one worker process (one import of
    torch); a card that kills its lane fails alone, and what was sent to that lane runs elsewhere."""
    p = write_cards(LANES.format(cards="".join(WHERE.format(i=i) for i in range(12))))
    b = build(p, cache, jobs=2)
    assert b["kills-its-lane"].status == "failed"
    assert (b["kills-its-lane"].reason or "").startswith(f"{p}:") and "the worker process died" in (
        b["kills-its-lane"].reason or "")
    where = [b[f"where-{i}"] for i in range(12)]
    assert [c.status for c in where] == ["ok"] * 12
    pairs = {tuple(c.answer.value) for c in where if c.answer is not None}  # type: ignore[arg-type]
    assert len({host for _, host in pairs}) == 1, pairs  # one worker process hosts every lane
    assert len({lane for lane, _ in pairs}) >= 2, pairs  # and the cards ran in more than one lane


def test_big_jobs_and_big_replies_never_wait_for_each_other(write_cards, cache: Cache) -> None:  # type: ignore[no-untyped-def]
    """A job is sent ahead of the running one only when it fits in the pipe beside it: a big job
    written while the worker writes a big reply nobody reads yet would block both for ever."""
    big_comment = "# " + "x" * 150_000
    p = write_cards(f"""\
deck: D
cards:
  - id: loud
    question: q
    code: |
      print("y" * 200_000)
    output: true
  - id: big-job
    question: q
    code: |
      {big_comment}
      a = torch.zeros(4)
    answer: a.shape
  - id: loud-again
    question: q
    code: |
      print("z" * 200_000)
    output: true
  - {{id: last, question: q, answer: "torch.zeros(5).shape"}}
""")
    box: dict[str, dict[str, BuiltCard]] = {}
    t = threading.Thread(target=lambda: box.update(b=build(p, cache, jobs=1)), daemon=True)
    t.start()
    t.join(120)
    assert not t.is_alive(), "the runner and the worker are waiting for each other"
    b = box["b"]
    assert [b[k].status for k in ("loud", "big-job", "loud-again", "last")] == ["ok"] * 4
    assert b["big-job"].answer and b["big-job"].answer.text == "torch.Size([4])"


def test_an_early_worker_is_adopted_or_killed(write_cards, cache: Cache) -> None:  # type: ignore[no-untyped-def]
    """A worker started before loading (an empty cache) runs the cards; with nothing to run it dies."""
    import os

    p = write_cards("""\
deck: D
cards:
  - id: parent
    question: q
    code: |
      import os
      pid = os.getppid()
    answer: pid
""")
    assert EarlyWorker.wanted(cache)
    assert EarlyWorker.wanted(Cache(cache.root, enabled=False))
    early = EarlyWorker(cache, sandbox=False)
    pid = early.pid
    assert pid is not None
    [oc] = run_cards(load([p]).cards, cache=cache, jobs=1, sandbox=False, early=early)
    assert oc.result and oc.result.answer and oc.result.answer.value == pid  # its child ran the card
    assert early.pid is None
    assert not os.path.exists(f"/proc/{pid}")  # closed and reaped with the run
    assert not EarlyWorker.wanted(cache)  # a result is cached now: a build would start nothing early

    early = EarlyWorker(cache, sandbox=False)
    pid = early.pid
    [again] = run_cards(load([p]).cards, cache=cache, jobs=1, sandbox=False, early=early)
    assert again.cached and early.pid is None
    assert not os.path.exists(f"/proc/{pid}")  # nothing to run: killed and reaped
