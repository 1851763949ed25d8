"""Stage 2a: run cards in a pool of worker processes, with the cache in front of them.

This module never imports torch: it starts ``python -m generator.execute.worker`` processes (each imports
torch once and forks a pristine child per card) only when some card is not cached.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from generator.execute.cache import Cache, key, package_version
from generator.model import Card, Outcome, RunResult

#: How long past a card's own timeout we wait for the worker itself before declaring it dead.
WORKER_GRACE = 30.0


def cuda_present() -> bool:
    """A cheap guess, without importing torch: an NVIDIA driver and a torch build that is not CPU-only."""
    from generator.execute.cache import torch_version

    return Path("/proc/driver/nvidia/version").exists() and "+cpu" not in torch_version()


def missing_requirement(card: Card, device: str) -> str | None:
    """Why the card cannot run here, decided without importing anything; None if it may."""
    needs = {*card.requires, *(["cuda"] if device == "cuda" else [])}
    if "cuda" in needs and not cuda_present():
        return "requires cuda: no CUDA device is available"
    for req in sorted(needs - {"cuda"}):
        if package_version(req) is None:
            return f"requires {req}: it is not installed"
    return None


def lookup(card: Card, cache: Cache, device: str | None = None) -> Outcome | None:
    """The card's outcome if it is known without running it (a cache hit or a missing requirement)."""
    dev = resolve_device(card, device)
    if missing := missing_requirement(card, dev):
        return Outcome(card, dev, skipped=missing)
    hit = cache.get(key(card, dev))
    if hit is None:
        return None
    return Outcome(card, dev, result=hit, skipped=hit.skipped, cached=True)


def resolve_device(card: Card, override: str | None) -> str:
    dev = override or card.device
    if dev == "auto":
        return "cuda" if cuda_present() else "cpu"
    return dev


class WorkerDied(Exception):
    pass


def _uses_optim(card: Card) -> bool:
    return any("optim" in text for text in (card.setup, card.code, card.answer or "", *card.choices))


def default_jobs() -> int:
    """Half the cores: one fork-server keeps about two busy (the fork of the next child and the
    teardown of the last run beside the card). Measured in docs/performance.md."""
    return max(1, (os.cpu_count() or 2) // 2)


class _Worker:
    def __init__(self, warm_optim: bool = False) -> None:
        env = dict(os.environ)
        pkg_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "generator.execute.worker", *(["--warm-up-optim"] if warm_optim else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=env, text=True, bufsize=1,
        )
        self.ready = False

    def _readline(self, timeout: float) -> dict[str, Any]:
        out: IO[str] | None = self.proc.stdout
        assert out is not None
        box: list[str] = []
        t = threading.Thread(target=lambda: box.append(out.readline()), daemon=True)
        t.start()
        t.join(timeout)
        if not box or not box[0]:
            raise WorkerDied("the worker process stopped answering" if not box else "the worker process died")
        return json.loads(box[0])

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        if not self.ready:
            hello = self._readline(120.0)
            if not hello.get("ready"):
                raise WorkerDied(f"the worker did not start: {hello}")
            self.ready = True
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise WorkerDied(f"the worker process died ({e})") from e
        return self._readline(float(job["timeout"]) + WORKER_GRACE)

    def close(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _job(n: int, card: Card, device: str) -> dict[str, Any]:
    return {
        "job": n, "id": card.id, "file": card.file, "line": card.line,
        "setup": card.setup,
        "code": card.code, "answer": card.answer,
        "raises": card.raises, "output": card.output, "choices": list(card.choices),
        "seed": card.seed, "timeout": card.timeout, "requires": list(card.requires),
        "device": device,
    }


def run_cards(
    cards: Sequence[Card],
    *,
    cache: Cache,
    device: str | None = None,
    jobs: int | None = None,
    on_done: Callable[[Outcome], None] | None = None,
    on_workers: Callable[[], None] | None = None,
) -> list[Outcome]:
    """Results for ``cards`` in order: from the cache, or by running them in worker processes.

    ``on_workers`` is called once workers are starting (each takes about a second to import
    torch), so that the caller can use that second.
    """
    outcomes: list[Outcome | None] = [None] * len(cards)
    todo: list[tuple[int, Card, str, str]] = []
    for i, card in enumerate(cards):
        known = lookup(card, cache, device)
        if known is None:
            dev = resolve_device(card, device)
            todo.append((i, card, dev, key(card, dev)))
            continue
        outcomes[i] = known
        if on_done:
            on_done(outcomes[i])  # type: ignore[arg-type]
    if todo:
        n_workers = max(1, min(jobs or default_jobs(), len(todo)))
        q: queue.Queue[tuple[int, Card, str, str]] = queue.Queue()
        for item in todo:
            q.put(item)
        lock = threading.Lock()

        # Warming the optimizer machinery costs a second once; worth it from the second card
        # that would otherwise pay it in its own child.
        warm = sum(_uses_optim(card) for _, card, _, _ in todo) >= 2

        def work() -> None:
            worker = _Worker(warm)
            try:
                while True:
                    try:
                        i, card, dev, k = q.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        reply = worker.run(_job(i, card, dev))
                    except WorkerDied as e:
                        worker.close()
                        worker = _Worker(warm)
                        reply = {"status": "crash", "reason": f"{card.file}:{card.line} [{card.id}]: {e}"}
                    oc = _outcome(card, dev, reply)
                    if oc.result is not None:
                        cache.put(k, card.id, oc.result)
                    with lock:
                        outcomes[i] = oc
                        if on_done:
                            on_done(oc)
            finally:
                worker.close()

        threads = [threading.Thread(target=work, daemon=True) for _ in range(n_workers)]
        for t in threads:
            t.start()
        if on_workers:
            on_workers()
        for t in threads:
            t.join()
    return [o for o in outcomes if o is not None]


# --- tnquiz import: note sessions (generator/execute/session.py) on worker processes ---
def run_sessions(jobs: Sequence[dict[str, Any]], n_workers: int | None = None) -> list[dict[str, Any]]:
    """Run ``{"kind": "session", ...}`` jobs on worker processes; the workers' replies, in order."""
    replies: list[dict[str, Any]] = [{} for _ in jobs]
    q: queue.Queue[int] = queue.Queue()
    for i in range(len(jobs)):
        q.put(i)

    def work() -> None:
        worker = _Worker()
        try:
            while True:
                try:
                    i = q.get_nowait()
                except queue.Empty:
                    return
                try:
                    replies[i] = worker.run({**jobs[i], "job": i})
                except WorkerDied as e:
                    worker.close()
                    worker = _Worker()
                    replies[i] = {"status": "crash", "reason": f"{jobs[i]['file']}: {e}"}
        finally:
            worker.close()

    threads = [threading.Thread(target=work, daemon=True)
               for _ in range(max(1, min(n_workers or default_jobs(), len(jobs))))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return replies
# --- end tnquiz import ---


def _outcome(card: Card, dev: str, reply: dict[str, Any]) -> Outcome:
    status = reply.get("status")
    if status == "ok":
        return Outcome(card, dev, result=RunResult.from_dict(reply["result"]), executed=True)
    if status == "skipped":
        reason = reply["reason"]
        # a package that is installed but does not import stays broken until its version changes
        result = RunResult(answer=None, skipped=reason) if reply.get("cacheable") else None
        return Outcome(card, dev, result=result, skipped=reason, executed=True)
    return Outcome(card, dev, failed=reply.get("reason", "unknown failure"), executed=True)
