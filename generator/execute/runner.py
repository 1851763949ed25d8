"""Stage 2a: run cards in a pool of worker processes, with the cache in front of them.

This module never imports torch: it starts ``python -m generator.execute.worker`` processes (each imports
torch once and forks a pristine child per card) only when some card is not cached.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import math
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from generator.execute.cache import Cache, key, package_version
from generator.execute.cache import default_dir as default_cache_dir
from generator.execute.messages import Job, Reply, ReplyStatus
from generator.execute.sandbox import Sandbox, choose_sandbox, not_inspectable, worker_env
from generator.model import BuiltCard, Card, Graded, Outcome, RunResult

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
    """The worker process died or stopped answering (the card may have killed it)."""


class ProtocolError(Exception):
    """The worker's reply is malformed or is not the answer to the job sent: tnquiz cannot trust it."""


#: The longest timeout honoured; larger ones (``.inf``) are clamped to it.
MAX_TIMEOUT = 24 * 3600.0


def card_timeout(card: Card) -> float:
    """The card's timeout as a finite number of seconds; ``ValueError`` when it is not a number."""
    t = card.timeout
    if isinstance(t, bool) or not isinstance(t, (int, float)) or math.isnan(t) or t <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, found {t!r}")
    return min(float(t), MAX_TIMEOUT)


def _uses_optim(card: Card) -> bool:
    return any("optim" in text for text in (card.setup, card.code, card.answer or "", *card.choices))


def default_jobs() -> int:
    """Half the cores: one fork-server keeps about two busy (the fork of the next child and the
    teardown of the last run beside the card). Measured in docs/performance.md."""
    return max(1, (os.cpu_count() or 2) // 2)


class _Worker:
    """One worker process: started lazily, answers one job at a time, killed as a whole when closed."""

    def __init__(self, warm_optim: bool, sandbox: Sandbox | None) -> None:
        argv = [sys.executable, "-m", "generator.execute.worker", *(["--warm-up-optim"] if warm_optim else [])]
        self.tmp_root = tempfile.mkdtemp(prefix="tnquiz-worker-")
        env = worker_env(self.tmp_root)
        if sandbox is not None:
            argv = sandbox.wrap(argv, self.tmp_root)
        try:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                env=env, text=True, bufsize=1, errors="replace", start_new_session=True,
                cwd=self.tmp_root,
            )
        except BaseException:
            shutil.rmtree(self.tmp_root, ignore_errors=True)
            raise
        self.ready = False

    def _readline(self, timeout: float) -> Any:
        out: IO[str] | None = self.proc.stdout
        assert out is not None
        box: list[str] = []
        t = threading.Thread(target=lambda: box.append(out.readline()), daemon=True)
        t.start()
        t.join(timeout)
        if not box or not box[0]:
            raise WorkerDied("the worker process stopped answering" if not box else "the worker process died")
        try:
            return json.loads(box[0])
        except ValueError:
            raise ProtocolError("the worker sent a line that is not JSON") from None

    def run(self, job: Job) -> Reply:
        if not self.ready:
            hello = self._readline(120.0)
            if not isinstance(hello, dict) or hello.get("ready") is not True:
                raise WorkerDied("the worker did not start")
            self.ready = True
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(job.to_dict()) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise WorkerDied(f"the worker process died ({e})") from e
        data = self._readline(job.timeout + WORKER_GRACE)
        try:
            reply = Reply.from_dict(data, kind=job.kind)
        except ValueError as e:
            raise ProtocolError(f"the worker's reply is malformed ({e})") from None
        if reply.job != job.job or not hmac.compare_digest(reply.nonce, job.nonce):
            said = f"; it says: {reply.reason}" if reply.status is ReplyStatus.ERROR and reply.reason else ""
            raise ProtocolError(f"the worker's reply does not answer this job (forged by a card?){said}")
        return reply

    def close(self) -> None:
        """Let the worker finish (it kills what its cards left), then make sure it is gone."""
        try:
            if self.proc.stdin is not None:
                with contextlib.suppress(OSError):
                    self.proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        finally:
            self.kill()

    def kill(self) -> None:
        """Kill the worker now (its cards die with it) and remove its temporary root.

        SIGTERM first: the worker then kills its cards and whatever they detached (a SIGKILLed
        worker could not), and under bubblewrap the whole sandbox goes with it. SIGKILL after that.
        """
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=3)
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: the server (or bwrap)
            with contextlib.suppress(OSError):
                self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
        shutil.rmtree(self.tmp_root, ignore_errors=True)


class _Stopped(Exception):
    """The build is being stopped: start no worker."""


class _Pool:
    """The live workers of one ``run_cards`` call, so that a stop (Ctrl-C, SIGTERM) kills them all."""

    def __init__(self, warm: bool, box: Sandbox | None) -> None:
        self.warm, self.box = warm, box
        self.live: set[_Worker] = set()
        self.stopping = False
        self.lock = threading.Lock()

    def start(self) -> _Worker:
        worker = _Worker(self.warm, self.box)
        with self.lock:
            if not self.stopping:
                self.live.add(worker)
                return worker
        worker.kill()
        raise _Stopped("the build is stopping")

    def close(self, worker: _Worker) -> None:
        with self.lock:
            self.live.discard(worker)
        worker.close()

    def kill_all(self) -> None:
        with self.lock:
            self.stopping = True
            workers, self.live = list(self.live), set()
        for worker in workers:
            worker.kill()


class _Signalled(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _signals_stop_the_build(pool: _Pool) -> Iterator[None]:
    """Kill every worker (and so every card) when the build is stopped by Ctrl-C, SIGTERM or SIGHUP.

    SIGTERM and SIGHUP would end the process without running any cleanup: while workers run (and
    only when called from the main thread, the only one that may set handlers) they raise instead;
    once the workers are dead, the signal is delivered again with its default action, so the process
    ends as the sender meant.
    """
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        def raise_(signum: int, frame: object) -> None:
            raise _Signalled(signum)

        for signum in (int(signal.SIGTERM), int(signal.SIGHUP)):
            with contextlib.suppress(ValueError, OSError):
                previous[signum] = signal.signal(signum, raise_)
    try:
        yield
    except _Signalled as e:
        pool.kill_all()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        previous.clear()
        os.kill(os.getpid(), e.signum)
        raise SystemExit(128 + e.signum) from None  # the caller's own handler did not end the process
    except BaseException:
        pool.kill_all()
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _where(card: Card) -> str:
    return f"{card.file}:{card.line} [{card.id}]"


def run_cards(
    cards: Sequence[Card],
    *,
    cache: Cache,
    device: str | None = None,
    jobs: int | None = None,
    on_done: Callable[[Outcome], None] | None = None,
    on_workers: Callable[[], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    sandbox: bool | None = None,
) -> list[Outcome]:
    """Exactly one outcome per card, in order: from the cache, or by running it in a worker process.

    Whatever fails on tnquiz's side (a worker that cannot start, a reply that cannot be trusted, a
    thread that dies) becomes that card's ``machinery`` outcome, never cached; the other cards go on.
    ``on_workers`` is called once workers are starting (each takes about a second to import
    torch), so that the caller can use that second. ``on_warning`` gets one line for each thing the
    user should know that does not fail a card (no sandbox, a cache that cannot be written), once
    per call. ``sandbox``: None follows ``TNQUIZ_SANDBOX`` (on unless ``0``).
    """
    outcomes: list[Outcome | None] = [None] * len(cards)
    lock = threading.Lock()
    warned: set[str] = set()

    def warn(kind: str, message: str) -> None:
        with lock:
            if kind in warned:
                return
            warned.add(kind)
        if on_warning:
            on_warning(message)

    def done(i: int, oc: Outcome) -> None:
        with lock:
            outcomes[i] = oc
        if on_done:
            on_done(oc)

    todo: list[tuple[int, Card, str, str, float]] = []
    for i, card in enumerate(cards):
        try:
            known = lookup(card, cache, device)
            if known is not None:
                done(i, known)
                continue
            dev = resolve_device(card, device)
            timeout = card_timeout(card)
            Job.from_dict(Job.for_card(i, "", card, dev, timeout).to_dict())  # what the worker would refuse
            todo.append((i, card, dev, key(card, dev), timeout))
        except Exception as e:  # any failure is this card's alone
            done(i, Outcome(card, card.device, machinery=f"{_where(card)}: cannot be run: {_describe(e)}"))
    if todo:
        box, sandbox_warning = choose_sandbox(sandbox, hidden=[cache.root])
        if sandbox_warning:
            warn("sandbox", sandbox_warning)
        n_workers = max(1, min(jobs or default_jobs(), len(todo)))
        q: queue.Queue[tuple[int, Card, str, str, float]] = queue.Queue()
        for item in todo:
            q.put(item)
        # Warming the optimizer machinery costs a second once; worth it from the second card
        # that would otherwise pay it in its own child.
        warm = sum(_uses_optim(card) for _, card, _, _, _ in todo) >= 2

        pool = _Pool(warm, box)

        def one(worker: _Worker | None, n: int, card: Card, dev: str, timeout: float) -> tuple[_Worker | None, Outcome]:
            """Run one card; returns the worker to go on with (None: start a new one) and the outcome."""
            if worker is None:
                worker = pool.start()
            job = Job.for_card(n, secrets.token_hex(16), card, dev, timeout)
            try:
                reply = worker.run(job)
            except WorkerDied as e:
                pool.close(worker)
                return None, Outcome(card, dev, failed=f"{_where(card)}: {e}", executed=True)
            except ProtocolError as e:
                pool.close(worker)
                return None, Outcome(card, dev, machinery=f"{_where(card)}: {e}", executed=True)
            return worker, _outcome(card, dev, reply)

        def work() -> None:
            worker: _Worker | None = None
            try:
                while not pool.stopping:
                    try:
                        i, card, dev, k, timeout = q.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        worker, oc = one(worker, i, card, dev, timeout)
                    except Exception as e:  # tnquiz's failure, this card's alone
                        if worker is not None:
                            with contextlib.suppress(Exception):
                                pool.close(worker)
                        worker = None
                        oc = Outcome(card, dev, machinery=f"{_where(card)}: tnquiz failed to run it: {_describe(e)}")
                    if pool.stopping:
                        return
                    if oc.result is not None:
                        try:
                            cache.put(k, card.id, oc.result)
                        except (OSError, ValueError) as e:
                            warn("cache", f"warning: cannot write the result cache in {cache.root} "
                                          f"({_describe(e)}); results of this build are not cached")
                    done(i, oc)
            finally:
                if worker is not None:
                    pool.close(worker)

        with _signals_stop_the_build(pool), not_inspectable():
            threads = [threading.Thread(target=work, daemon=True) for _ in range(n_workers)]
            for t in threads:
                t.start()
            if on_workers:
                on_workers()
            for t in threads:
                t.join()
    result: list[Outcome] = []
    for card, oc in zip(cards, outcomes, strict=True):
        if oc is None:  # cannot happen by construction; never lose a card if it does
            oc = Outcome(card, card.device, machinery=f"{_where(card)}: tnquiz lost this card's result")
        result.append(oc)
    return result


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


# --- tnquiz import: note sessions (generator/execute/session.py) on worker processes ---
def run_sessions(jobs: Sequence[dict[str, Any]], n_workers: int | None = None) -> list[dict[str, Any]]:
    """Run ``{"kind": "session", ...}`` jobs on worker processes (sandboxed like cards); one reply
    each, in order: ``{"status", "result", "reason"}`` with ``result`` the session's steps when ok."""
    replies: list[dict[str, Any]] = [{} for _ in jobs]
    q: queue.Queue[int] = queue.Queue()
    for i in range(len(jobs)):
        q.put(i)
    box, _ = choose_sandbox(None, hidden=[default_cache_dir()])
    pool = _Pool(False, box)

    def one(worker: _Worker | None, i: int) -> tuple[_Worker | None, dict[str, Any]]:
        where = f"{jobs[i].get('file')}"
        job = Job.for_session(i, secrets.token_hex(16), jobs[i])
        if worker is None:
            worker = pool.start()
        try:
            reply = worker.run(job)
        except WorkerDied as e:
            pool.close(worker)
            return None, {"status": "crash", "reason": f"{where}: {e}"}
        except ProtocolError as e:
            pool.close(worker)
            return None, {"status": "error", "reason": f"{where}: {e}"}
        return worker, {"status": reply.status.value, "result": reply.session, "reason": reply.reason}

    def work() -> None:
        worker: _Worker | None = None
        try:
            while not pool.stopping:
                try:
                    i = q.get_nowait()
                except queue.Empty:
                    return
                try:
                    worker, replies[i] = one(worker, i)
                except Exception as e:  # tnquiz's failure, this session's alone
                    if worker is not None:
                        with contextlib.suppress(Exception):
                            pool.close(worker)
                    worker = None
                    replies[i] = {"status": "error", "reason": f"{jobs[i].get('file')}: {_describe(e)}"}
        finally:
            if worker is not None:
                pool.close(worker)

    with _signals_stop_the_build(pool), not_inspectable():
        threads = [threading.Thread(target=work, daemon=True)
                   for _ in range(max(1, min(n_workers or default_jobs(), len(jobs))))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return replies
# --- end tnquiz import ---


def _outcome(card: Card, dev: str, reply: Reply) -> Outcome:
    if reply.status is ReplyStatus.OK and reply.result is not None:
        return Outcome(card, dev, result=reply.result, executed=True)
    reason = reply.reason or "no reason given"
    if reply.status is ReplyStatus.SKIPPED:
        # a package that is installed but does not import stays broken until its version changes
        result = RunResult(answer=None, skipped=reason) if reply.cacheable else None
        return Outcome(card, dev, result=result, skipped=reason, executed=True)
    if reply.status is ReplyStatus.ERROR:
        return Outcome(card, dev, machinery=reason, executed=True)
    return Outcome(card, dev, failed=reason, executed=True)


# --- grading a learner's attempt at an exercise, for the quiz ------------------------------------


class Grader:
    """One worker kept for a quiz session: started at once in the background (torch's import overlaps
    the first questions), then each attempt runs in a fresh forked child of it, like a card in a
    build: same sandbox, same isolation, the card's timeout. A runaway attempt is killed by the
    worker; the worker itself is replaced only when it died or could not be trusted. It is in its
    own session, so Ctrl-C typed into the quiz (which cancels an attempt there) does not reach it.
    While it lives, this process is not inspectable (see ``sandbox.not_inspectable``)."""

    def __init__(self) -> None:
        self._worker: _Worker | None = None
        self._n = 0
        self._quiet: contextlib.ExitStack | None = None

    def start(self) -> None:
        if self._worker is None:
            box, _ = choose_sandbox(None, hidden=[default_cache_dir()])
            if self._quiet is None:
                self._quiet = contextlib.ExitStack()
                self._quiet.enter_context(not_inspectable())
            self._worker = _Worker(False, box)

    def grade(self, card: BuiltCard, attempt: str) -> Graded:
        c = card.card
        if card.answer is None or len(card.variant_answers) != len(c.variants):
            return Graded(None, "this exercise has no reference results: rebuild the deck")
        try:
            self.start()
            assert self._worker is not None
            self._n += 1
            job = Job.for_grade(self._n, secrets.token_hex(16), card, attempt, card_timeout(c))
            reply = self._worker.run(job)
        except (WorkerDied, ProtocolError) as e:
            self._drop()
            return Graded(None, f"could not grade it: {e}")
        except (OSError, ValueError) as e:
            self._drop()
            return Graded(None, f"could not grade it: {_describe(e)}")
        if reply.status is ReplyStatus.TIMEOUT:
            return Graded(False, f"timed out after {c.timeout:g} s and was stopped (an endless loop?)")
        if reply.status is not ReplyStatus.OK or reply.verdict is None:
            return Graded(None, f"could not grade it: {reply.reason or 'the worker gave no verdict'}")
        return Graded(reply.verdict["correct"], reply.verdict["message"])

    def _drop(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker = None

    def close(self) -> None:
        if self._worker is not None:
            if not self._worker.ready:  # still importing torch: nothing to finish
                self._worker.kill()
            else:
                self._worker.close()
            self._worker = None
        if self._quiet is not None:
            self._quiet.close()
            self._quiet = None
