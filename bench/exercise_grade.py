"""Time from submitting an exercise attempt to its verdict, with the worker warm (target: <= 150 ms).

Builds a one-card exercise deck (a trivial exercise: ``y = x.permute(0, 3, 1, 2)`` on a setup and two
variants) with the real ``tnquiz build``, then measures, ``--runs`` times each (medians and 90th
percentiles reported):

- ``Grader.grade`` in this process: the job sent to the warm worker, the attempt run in a forked child
  on all three inputs, the verdict read back;
- ``tnquiz quiz`` in a pseudo-terminal: from the empty line that submits the attempt to the verdict
  on screen (what a learner waits for), after one attempt has warmed the worker;
- for scale, beside them: one plain card run by the same warm worker (a build's unit of work).

Usage::

    python bench/exercise_grade.py             # 30 runs
    python bench/exercise_grade.py --runs 60
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_MS = 150.0
DECK = """\
deck: Bench::Exercises
cards:
  - id: ex-bench
    question: Turn `x` (N, H, W, C) into `y` (N, C, H, W).
    setup: x = torch.rand(2, 4, 5, 3)
    solution: y = x.permute(0, 3, 1, 2)
    answer: y
    variants:
      - x = torch.rand(1, 2, 2, 1)
      - x = torch.rand(3, 7, 1, 4)
"""


def _summary(name: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p90 = ms[min(len(ms) - 1, int(0.9 * len(ms)))]
    return f"{name:<44} median {statistics.median(ms):7.1f} ms   p90 {p90:7.1f} ms   ({len(ms)} runs)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()

    import pexpect

    from generator.execute.messages import Job
    from generator.execute.runner import Grader, _Worker
    from generator.model import Deck

    with tempfile.TemporaryDirectory(prefix="tnquiz-bench-") as tmp:
        d = Path(tmp)
        (d / "ex.yaml").write_text(DECK)
        env = {**os.environ, "TNQUIZ_CACHE_DIR": str(d / "cache"), "TNQUIZ_DB": str(d / "db.sqlite3"),
               "TNQUIZ_NOW": "2025-03-01T09:00:00+00:00", "TERM": "dumb"}
        subprocess.run([sys.executable, "-m", "generator", "build", str(d / "ex.yaml"), "--out", str(d / "build")],
                       env=env, check=True, capture_output=True, timeout=300)
        deck = Deck.from_dict(json.loads((d / "build" / "cards.json").read_text()))
        [card] = deck.cards

        grader = Grader()
        grader.start()
        assert grader.grade(card, "y = x.movedim(3, 1)").correct  # warm: torch imported, first fork done
        grade_ms = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            verdict = grader.grade(card, "y = x.movedim(3, 1)")
            grade_ms.append((time.perf_counter() - t0) * 1000)
            assert verdict.correct
        grader.close()

        worker = _Worker(False, None)  # unsandboxed: the grader's own sandbox is measured above
        plain = card.card.__class__(id="plain", deck="B", file="b.yaml", line=1, question="q", kind="shape",
                                    setup="x = torch.rand(2, 4, 5, 3)", code="y = x.permute(0, 3, 1, 2)", answer="y.shape")
        worker.run(Job.for_card(0, "n", plain, "cpu", 10.0))
        card_ms = []
        for i in range(args.runs):
            t0 = time.perf_counter()
            reply = worker.run(Job.for_card(i + 1, "n", plain, "cpu", 10.0))
            card_ms.append((time.perf_counter() - t0) * 1000)
            assert reply.status.value == "ok"
        worker.close()

        # the real quiz: the learner's wait, from the submitting Enter to the verdict on screen
        p = pexpect.spawn(sys.executable, ["-m", "generator", "quiz", "--cards", str(d / "build" / "cards.json")],
                          env=env, encoding="utf-8", timeout=120, dimensions=(50, 160))
        p.delaybeforesend = None  # pexpect sleeps 50 ms before each send by default: not the quiz's time
        quiz_ms = []
        for i in range(args.runs + 1):
            p.expect("code> ")
            p.sendline("y = x.movedim(3, 1)")
            p.expect(r"\.\.\.> ")
            t0 = time.perf_counter()
            p.sendline("")
            p.expect("✓ Right")
            if i:  # the first one waits for the worker's start: not a warm measurement
                quiz_ms.append((time.perf_counter() - t0) * 1000)
            p.expect(r"Rating \[Enter = 3 Good\]: ")
            p.sendline("u")  # take the answer back: the same card is asked again, nothing saved
        p.expect("code> ")
        p.sendline("q")
        p.expect(pexpect.EOF)

    print(_summary("plain card, warm worker (for scale)", card_ms))
    print(_summary("Grader.grade, 3 inputs, warm worker", grade_ms))
    print(_summary("tnquiz quiz: Enter -> verdict on screen", quiz_ms))
    med = statistics.median(quiz_ms)
    print(f"quiz verdict / target {TARGET_MS:.0f} ms = {med / TARGET_MS:.2f}   "
          f"grade / plain card = {statistics.median(grade_ms) / statistics.median(card_ms):.2f}")


if __name__ == "__main__":
    main()
