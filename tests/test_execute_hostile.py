"""The execution stage against hostile or broken input: every card gets exactly one outcome, no
card changes another's answer or the cache, what is read back is validated, output is bounded."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from generator import atomic
from generator.execute.cache import Cache, key
from generator.execute.runner import run_cards
from generator.execute.sandbox import choose_sandbox
from generator.load import load
from generator.model import Card, Outcome
from generator.verify import verify
from tests.conftest import run_tnquiz

THREE = """\
deck: D
cards:
  - {id: one, question: q, answer: "torch.zeros(1).shape"}
  - {id: two, question: q, answer: "torch.zeros(2).shape"}
  - {id: three, question: q, answer: "torch.zeros(3).shape"}
"""


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache")


def _cards(write_cards, text: str) -> tuple[Card, ...]:  # type: ignore[no-untyped-def]
    loaded = load([write_cards(text)])
    assert loaded.problems == ()
    return loaded.cards


def test_every_card_gets_one_outcome_whatever_its_timeout(write_cards, cache: Cache) -> None:  # type: ignore[no-untyped-def]
    one, two, three = _cards(write_cards, THREE)
    cards = [dataclasses.replace(one, timeout=float("inf")), dataclasses.replace(two, timeout=float("nan")),
             dataclasses.replace(three, timeout=1e10)]
    outcomes = run_cards(cards, cache=cache, jobs=1)
    assert [o.card.id for o in outcomes] == ["one", "two", "three"]
    assert outcomes[0].result is not None and outcomes[0].result.answer is not None
    assert outcomes[0].result.answer.text == "torch.Size([1])"
    assert outcomes[1].machinery == (f"{two.file}:{two.line} [two]: cannot be run: "
                                     "ValueError: timeout must be a positive number of seconds, found nan")
    assert outcomes[1].result is None and verify(outcomes[1]).status == "error"
    assert outcomes[2].result is not None and outcomes[2].result.answer is not None
    assert outcomes[2].result.answer.text == "torch.Size([3])"


def test_a_card_the_runner_cannot_handle_fails_alone(write_cards, cache: Cache) -> None:  # type: ignore[no-untyped-def]
    one, two, three = _cards(write_cards, THREE)
    broken = dataclasses.replace(two, requires=("",))  # the package lookup itself raises
    seed = dataclasses.replace(three, seed=2**63)  # the worker would refuse the job
    outcomes = run_cards([one, broken, seed], cache=cache, jobs=1)
    assert [o.card.id for o in outcomes] == ["one", "two", "three"]
    assert (outcomes[1].machinery or "").startswith(f"{two.file}:{two.line} [two]: cannot be run: ValueError")
    assert outcomes[2].machinery == (f"{three.file}:{three.line} [three]: cannot be run: ValueError: "
                                     "`seed` has the wrong type or value: int '9223372036854775808'")
    assert [verify(o).status for o in outcomes] == ["ok", "error", "error"]
    assert cache.get(key(two, "cpu")) is None and cache.get(key(seed, "cpu")) is None  # never cached


def test_an_unwritable_cache_is_one_warning_not_lost_cards(write_cards, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    not_a_folder = tmp_path / "cache-file"
    not_a_folder.write_text("x")
    warnings: list[str] = []
    outcomes = run_cards(_cards(write_cards, THREE), cache=Cache(not_a_folder), jobs=1,
                         on_warning=warnings.append, sandbox=False)
    assert [verify(o).status for o in outcomes] == ["ok", "ok", "ok"]
    cache_warnings = [w for w in warnings if "cache" in w]
    assert len(cache_warnings) == 1
    assert cache_warnings[0].startswith(f"warning: cannot write the result cache in {not_a_folder} (")
    assert cache_warnings[0].endswith("); results of this build are not cached")


# A card that writes forged reply lines (claiming every job number, answer "FORGED") into every
# pipe its worker holds and into tnquiz's own ends of the protocol pipes (its parent and grandparent;
# the grandparent's fds 0-2 are the test run's own terminal, left alone). When the grandparent is the
# test process (TEST_PID, one worker), so are the pipes it held before the run (HARNESS: a
# pytest-xdist worker's channel to its controller, playwright's to its driver): forged lines there
# would break the test run, not tnquiz.
FORGER = """\
deck: D
cards:
  - {id: before, question: q, answer: "torch.zeros(1).shape"}
  - id: forger
    question: q
    code: |
      import json, os
      answer = {"type": "shape", "text": "FORGED", "shape": [9]}
      result = {"answer": answer, "choices": [], "stdout": "", "error": None, "torch_version": "x",
                "device": "cpu", "seconds": 0.0, "skipped": None}
      lines = "".join(json.dumps({"job": n, "nonce": "", "status": "ok", "result": result}) + "\\n"
                      for n in range(8)).encode()
      opened = []
      pid = os.getpid()
      for level in (1, 2):
          with open(f"/proc/{pid}/stat") as fh:
              pid = int(fh.read().rsplit(")", 1)[1].split()[1])
          try:
              fds = os.listdir(f"/proc/{pid}/fd")
          except OSError:
              continue
          for fd in fds:
              if level == 2 and (int(fd) <= 2 or (pid == TEST_PID and int(fd) in HARNESS)):
                  continue
              try:
                  if not os.readlink(f"/proc/{pid}/fd/{fd}").startswith("pipe:"):
                      continue
                  w = os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
                  os.write(w, lines)
                  os.close(w)
                  opened.append((pid, fd))
              except OSError:
                  pass
    answer: torch.zeros(4).shape
  - {id: after-1, question: q, answer: "torch.zeros(2).shape"}
  - {id: after-2, question: q, answer: "torch.zeros(3).shape"}
"""


def _pipes_held() -> set[int]:
    """The file descriptors of this process that are pipes."""
    held = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
                held.add(int(fd))
        except OSError:  # the listing's own descriptor, closed by now
            pass
    return held


@pytest.mark.parametrize("jobs", [1, 2], ids=["one-worker", "two-lanes"])  # two: the forger's grandparent hosts lanes
@pytest.mark.parametrize("sandbox", [True, False], ids=["sandbox", "no-sandbox"])
def test_a_card_cannot_forge_another_cards_answer(write_cards, cache: Cache, sandbox: bool, jobs: int) -> None:  # type: ignore[no-untyped-def]
    if sandbox and choose_sandbox(True)[0] is None:
        pytest.skip("bubblewrap is not installed or cannot run here (make system-deps)")
    deck = FORGER.replace("TEST_PID", str(os.getpid())).replace("HARNESS", repr(sorted(_pipes_held())))
    cards = _cards(write_cards, deck)
    outcomes = run_cards(cards, cache=cache, jobs=jobs, sandbox=sandbox)
    built = {o.card.id: verify(o) for o in outcomes}
    expected = {"before": "torch.Size([1])", "after-1": "torch.Size([2])", "after-2": "torch.Size([3])"}
    for card_id, text in expected.items():
        assert built[card_id].status == "ok", built[card_id].reason
        assert built[card_id].answer is not None and built[card_id].answer.text == text
    # the forger's own card: its real answer, or a machinery error once a forged line was seen
    forger = built["forger"]
    assert (forger.status, forger.answer.text if forger.answer else None) in (
        ("ok", "torch.Size([4])"), ("error", None))
    for card in cards:
        hit = cache.get(key(card, "cpu"))
        assert hit is None or (hit.answer is not None and "FORGED" not in hit.answer.text)
    # a second, cached build serves exactly the same answers
    again = {o.card.id: verify(o) for o in run_cards(cards, cache=cache, jobs=jobs, sandbox=sandbox)}
    for card_id, text in expected.items():
        assert again[card_id].answer is not None and again[card_id].answer.text == text


WRONG_SHAPED_ENTRIES = [
    b'{"result": null}', b"[]", b'"x"', b"\xff\xfe garbage", b'{"result": {"answer": 5}}',
    b'{"result": {"answer": {"type": "shape", "text": 1}}}', b'{"result": {"stdout": ["x"]}}',
    b'{"result": {"answer": {"type": "shape", "text": "torch.Size([7])"}, "seconds": "x"}}',
]


def test_a_wrong_shaped_cache_entry_is_a_miss_and_is_rerun(write_cards, cache: Cache) -> None:  # type: ignore[no-untyped-def]
    """Each kind of damaged entry, planted for a card of its own; one run (one worker start) reruns
    every one of them and rewrites each entry whole."""
    cards = _cards(write_cards, "deck: D\ncards:\n" + "".join(f"""\
  - id: entry-{i}
    question: q
    code: a = torch.zeros({i + 1})
    answer: a.shape
""" for i in range(len(WRONG_SHAPED_ENTRIES))))
    paths = {}
    for card, entry in zip(cards, WRONG_SHAPED_ENTRIES, strict=True):
        k = key(card, "cpu")
        paths[card.id] = path = cache.root / "results" / k[:2] / f"{k}.json"
        atomic.write_bytes(path, entry)
        assert cache.get(k) is None, entry
    outcomes = run_cards(cards, cache=cache, jobs=1)
    for i, (card, outcome, entry) in enumerate(zip(cards, outcomes, WRONG_SHAPED_ENTRIES, strict=True)):
        assert outcome.card.id == card.id
        assert outcome.executed and not outcome.cached, entry
        assert verify(outcome).status == "ok", entry
        hit = cache.get(key(card, "cpu"))  # rewritten whole
        assert hit is not None and hit.answer is not None and hit.answer.text == f"torch.Size([{i + 1}])", entry
        assert json.loads(paths[card.id].read_text())["id"] == card.id


BIG = """\
deck: D
cards:
  - id: prints-50mb
    question: q
    code: |
      for _ in range(50):
          print("x" * 1_000_000)
    answer: "1"
  - id: output-card
    question: q
    code: |
      print("hello " * 3)
    output: true
  - id: surrogate
    question: q
    code: |
      print("a\\ud800b")
    answer: "'c' + chr(0xdfff) + 'd'"
  - id: huge-answer
    question: q
    answer: "'y' * 1_000_000"
"""


def test_output_is_capped_stored_once_and_always_encodable(write_cards, cache: Cache) -> None:  # type: ignore[no-untyped-def]
    outcomes: dict[str, Outcome] = {o.card.id: o for o in run_cards(_cards(write_cards, BIG), cache=cache, jobs=1)}
    big = outcomes["prints-50mb"].result
    assert big is not None and big.answer is not None and big.answer.text == "1"
    assert len(big.stdout) < 65 * 1024
    assert big.stdout.startswith("x" * 1000)
    assert big.stdout.endswith(f"\n[tnquiz: truncated, {50 * 1_000_001 - 64 * 1024} more characters]")
    out = outcomes["output-card"].result
    assert out is not None and out.answer is not None
    assert out.answer.text == "hello hello hello \n" and out.stdout == ""  # stored once: as the answer
    sur = outcomes["surrogate"].result
    assert sur is not None and sur.answer is not None
    assert sur.stdout == "a\\ud800b\n"
    assert sur.answer.text == "'c\\udfffd'" and sur.answer.value == "c\\udfffd"
    huge = outcomes["huge-answer"].result
    assert huge is not None and huge.answer is not None
    assert len(huge.answer.text) < 65 * 1024 and huge.answer.text.endswith(" more characters]")
    assert huge.answer.value is None  # too large to keep
    for o in outcomes.values():
        json.dumps(verify(o).to_dict(), ensure_ascii=False).encode("utf-8")  # every writer can write it


def test_list_reads_wrong_shaped_cache_entries_without_a_traceback(write_cards, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cards = _cards(write_cards, THREE)
    cache = Cache(tmp_path / "hostile-cache")
    for card, entry in zip(cards, (b'{"result": null}', b"[1, 2]", b'{"result": {"answer": {"type": "shape"}}}'),
                           strict=True):
        k = key(card, "cpu")
        atomic.write_bytes(cache.root / "results" / k[:2] / f"{k}.json", entry)
    proc = run_tnquiz("list", str(cards[0].file), env={"TNQUIZ_CACHE_DIR": str(cache.root)}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    header, *rows = proc.stdout.splitlines()
    assert header.split() == ["ID", "KIND", "DECK", "STATUS"]
    assert [line.split()[-2:] for line in rows] == [["not", "run"]] * 3
