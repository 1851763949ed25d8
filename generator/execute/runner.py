"""Stage 2a: run cards in a pool of worker processes, with the cache in front of them.

This module never imports torch: it starts ``python -m generator.execute.worker`` processes (each imports
torch once and runs cards in pristine children forked from it) only when some card is not cached.
With ``isolation="auto"`` it marks each provably pure card (``purity.impurity``) so that the worker
may run it in a reused child; ``"fork"`` gives every card a fresh child (docs/isolation.md).
Several workers are lanes of one worker process (``_Worker.lane``): one import of torch for all.
"""

from __future__ import annotations

import collections
import contextlib
import hmac
import json
import math
import os
import queue
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from generator.execute.cache import Cache, key, package_version
from generator.execute.cache import default_dir as default_cache_dir
from generator.execute.messages import WARM_UP, WARM_UP_OPTIM, Job, Reply, ReplyStatus
from generator.execute.purity import impurity
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


#: ``auto``: pure cards share a reused child; ``fork``: a fresh child for every card.
ISOLATION = ("auto", "fork")

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


#: Cards to run per worker started by default: a worker's start (torch's import) costs as much CPU
#: as running a few hundred pure cards, so a small batch (a one-card edit) gets one worker.
CARDS_PER_WORKER = 32
#: Workers started by default at most (each holds torch's memory, ~220 MB).
MAX_DEFAULT_JOBS = 4
#: Cards to run from which workers warm up what torch loads lazily (``worker._warm_up``) first.
WARM_UP_FROM = 8


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_jobs(isolation: str = "auto", cards: int | None = None) -> int:
    """Workers to start for ``cards`` cards to run (measured in docs/performance.md).

    ``fork``: half the cores, as one fork-server keeps about two busy (the fork of the next child
    and the teardown of the last run beside the card). ``auto``: one per core up to
    ``MAX_DEFAULT_JOBS`` (a reused child costs no fork, so each worker keeps one core busy), and no
    more than one per ``CARDS_PER_WORKER`` cards.
    """
    n = max(1, _cores() // 2) if isolation == "fork" else min(_cores(), MAX_DEFAULT_JOBS)
    if cards is not None:
        n = min(n, max(1, -(-cards // CARDS_PER_WORKER)))
    return n


#: The longest line a worker may send (a reply holds capped texts: far below this).
MAX_LINE = 256 << 20
#: Jobs a worker holds at once: the one it runs and the next ones, sent ahead.
AHEAD = 3
#: Jobs sent ahead of the one running, in bytes at most: well within a pipe's 64 KiB.
AHEAD_BYTES = 16 << 10
#: A card to run: its index, the card, its device, its cache key and its timeout.
Item = tuple[int, Card, str, str, float]


class _Channel:
    """The protocol with one server: a worker process, or a lane of one. It answers its jobs in
    the order sent.

    Jobs may be sent ahead (``send``) while earlier ones run: the server reads the next job only
    once it has answered the previous one, so each job still runs alone, and the runner's own work
    on a reply (the cache entry, the progress line) overlaps the next card instead of delaying it.
    """

    _wfd = -1  # where jobs are written
    _rfd = -1  # where replies are read

    def __init__(self) -> None:
        self.ready = False
        self.warming = 0  # warm-up answers still to read
        self._buf = b""

    def warm_up(self, optim: bool = False) -> None:
        """Ask the worker to warm up before its next job: what torch loads lazily, and with ``optim``
        the optimizers too (``messages.WARM_UP``, ``WARM_UP_OPTIM``)."""
        self.send((json.dumps(WARM_UP_OPTIM if optim else WARM_UP) + "\n").encode())
        self.warming += 1

    def _readline(self, timeout: float) -> Any:
        """The worker's next line, as JSON; ``WorkerDied`` when it ends or says nothing for ``timeout``."""
        fd = self._rfd
        deadline = time.monotonic() + timeout
        while (end := self._buf.find(b"\n")) < 0:
            if len(self._buf) > MAX_LINE:
                raise ProtocolError("the worker sent a line longer than any reply")
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerDied("the worker process stopped answering")
            try:
                if not select.select([fd], [], [], left)[0]:
                    continue
                chunk = os.read(fd, 1 << 20)
            except (OSError, ValueError) as e:
                raise WorkerDied(f"the worker process died ({e})") from None
            if not chunk:
                raise WorkerDied("the worker process died")
            self._buf += chunk
        line, self._buf = self._buf[:end], self._buf[end + 1:]
        try:
            return json.loads(line.decode("utf-8", "replace"))
        except ValueError:
            raise ProtocolError("the worker sent a line that is not JSON") from None

    @staticmethod
    def encode(job: Job) -> bytes:
        return json.dumps(job.to_dict()).encode() + b"\n"

    def send(self, data: bytes) -> None:
        """Queue an encoded job in the worker's input; it runs after the jobs sent before it.

        Blocks while the pipe is full: send ahead of unanswered jobs only what fits in it beside
        them (``AHEAD_BYTES``), or the worker, blocked writing a reply nobody reads yet, and this
        thread would wait for each other.
        """
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._wfd, view):]
        except (OSError, ValueError) as e:
            raise WorkerDied(f"the worker process died ({e})") from e

    def receive(self, job: Job) -> Reply:
        """The reply to ``job``, the oldest job sent and not yet answered."""
        if not self.ready:
            hello = self._readline(120.0)
            if not isinstance(hello, dict) or hello.get("ready") is not True:
                raise WorkerDied("the worker did not start")
            self.ready = True
        while self.warming:
            said = self._readline(600.0)
            if not isinstance(said, dict) or not isinstance(said.get("warmed"), bool):
                raise ProtocolError("the worker's answer to the warm-up is malformed")
            self.warming -= 1
        data = self._readline(job.timeout + WORKER_GRACE)
        try:
            reply = Reply.from_dict(data, kind=job.kind)
        except ValueError as e:
            raise ProtocolError(f"the worker's reply is malformed ({e})") from None
        if reply.job != job.job or not hmac.compare_digest(reply.nonce, job.nonce):
            said = f"; it says: {reply.reason}" if reply.status is ReplyStatus.ERROR and reply.reason else ""
            raise ProtocolError(f"the worker's reply does not answer this job (forged by a card?){said}")
        return reply

    def run(self, job: Job) -> Reply:
        self.send(self.encode(job))
        return self.receive(job)

    def close(self) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        raise NotImplementedError


class _Worker(_Channel):
    """One worker process: started at once (it imports torch), killed as a whole when closed.

    ``lanes``: pipes for that many lanes are passed to it (``lane()``): servers forked from it
    once torch is imported, each serving jobs of its own, so that several run side by side on one
    import of torch, in one sandbox.
    """

    def __init__(self, warm_optim: bool, sandbox: Sandbox | None, basic: bool = True, lanes: int = 0) -> None:
        super().__init__()
        argv = [sys.executable, "-m", "generator.execute.worker"]
        self.tmp_root = tempfile.mkdtemp(prefix="tnquiz-worker-")
        env = worker_env(self.tmp_root)
        ours: list[tuple[int, int]] = []  # per lane: (job pipe, reply pipe), this end
        theirs: list[int] = []
        try:
            for _ in range(lanes):
                job_r, job_w = os.pipe()
                res_r, res_w = os.pipe()
                ours.append((job_w, res_r))
                theirs += [job_r, res_w]
            if lanes:
                argv += ["--lanes", ",".join(f"{theirs[2 * k]}:{theirs[2 * k + 1]}" for k in range(lanes))]
            if sandbox is not None:
                argv = sandbox.wrap(argv, self.tmp_root)
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                env=env, bufsize=0, start_new_session=True, cwd=self.tmp_root, pass_fds=theirs,
            )
        except BaseException:
            for fd in [*theirs, *(fd for pair in ours for fd in pair)]:
                os.close(fd)
            shutil.rmtree(self.tmp_root, ignore_errors=True)
            raise
        for fd in theirs:
            os.close(fd)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._wfd = self.proc.stdin.fileno()
        self._rfd = self.proc.stdout.fileno()
        self._free = collections.deque(enumerate(ours))  # lanes not asked for yet
        self._lock = threading.Lock()
        self.lanes: set[_Lane] = set()  # open lanes: the process is closed after the last
        self._closing = False
        if warm_optim or basic:
            self.warm_up(optim=warm_optim)

    def lane(self) -> _Lane | None:
        """A lane of this worker (a server forked from it, in the state its warm-ups left it);
        None when no pipes for one are left or the worker is closing."""
        with self._lock:
            if self._closing or not self._free or self.proc.poll() is not None:
                return None
            k, (job_w, res_r) = self._free.popleft()
            lane = _Lane(self, job_w, res_r)
            self.lanes.add(lane)
            with contextlib.suppress(WorkerDied):  # the lane's own pipe says so: it ends unready
                self.send((json.dumps({"lane": k}) + "\n").encode())
            return lane

    def release(self, lane: _Lane) -> None:
        """``lane`` is closed: the process too, when it was closed already and this was its last."""
        with self._lock:
            self.lanes.discard(lane)
            last = self._closing and not self.lanes
        if last:
            self._finish()

    def close(self) -> None:
        """Let the worker finish (it kills what its cards left), then make sure it is gone; with
        lanes still open, once the last of them is closed."""
        with self._lock:
            self._closing = True
            waiting = bool(self.lanes)
        self._close_free()  # lanes forked as spares and never used end at once
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()  # it stops taking jobs; its lanes go on
        if not waiting:
            self._finish()

    def _close_free(self) -> None:
        with self._lock:
            free, self._free = list(self._free), collections.deque()
        for _, fds in free:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _finish(self) -> None:
        try:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        finally:
            self.kill()

    def kill(self) -> None:
        """Kill the worker now (its cards and its lanes die with it) and remove its temporary root.

        SIGTERM first: the worker then kills its cards and whatever they detached (a SIGKILLed
        worker could not), and under bubblewrap the whole sandbox goes with it. SIGKILL after that.
        """
        with self._lock:
            self._closing = True
        self._close_free()
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


class _Lane(_Channel):
    """A lane of a worker process (``_Worker.lane``): its own jobs, its own children, the worker's
    torch. It cannot be signalled from here (it lives in the worker's sandbox): closing its pipes
    ends it, and killing the worker kills it."""

    def __init__(self, host: _Worker, job_w: int, res_r: int) -> None:
        super().__init__()
        self.host = host
        self._wfd, self._rfd = job_w, res_r
        self._open = True

    def close(self) -> None:
        if self._open:
            self._open = False
            for fd in (self._wfd, self._rfd):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._wfd = self._rfd = -1
            self.host.release(self)

    kill = close


class _Stopped(Exception):
    """The build is being stopped: start no worker."""


class EarlyWorker:
    """A worker started before the cards are even loaded, for a run that will surely need one (an
    empty or disabled cache): torch's import, the longest wait of a cold build, then overlaps the
    loading. ``run_cards(early=...)`` adopts it (and asks for the warm-up that run wants);
    ``close()`` kills it if nothing did (no card had to run after all).

    Start it from the thread that outlives the run (the main thread): a worker dies with the
    thread that started it (bubblewrap's ``--die-with-parent``).
    """

    def __init__(self, cache: Cache, sandbox: bool | None = None) -> None:
        self.box, self.warning = choose_sandbox(sandbox, hidden=[cache.root])
        self.sandbox = sandbox
        self.cache_root = cache.root
        # warmed up as adopted; with pipes for lanes, in case the run wants several workers
        lanes = min(_cores(), MAX_DEFAULT_JOBS)
        self._worker: _Worker | None = _Worker(False, self.box, basic=False, lanes=lanes + 2 if lanes > 1 else 0)

    @property
    def pid(self) -> int | None:
        """The worker's process id (bubblewrap's, in the sandbox) while not taken or closed."""
        return self._worker.proc.pid if self._worker is not None else None

    @staticmethod
    def wanted(cache: Cache) -> bool:
        """Whether every card will run: the cache is off, or holds no result at all."""
        if not cache.enabled:
            return True
        try:
            return not any((cache.root / "results").iterdir())
        except OSError:
            return True

    def take(self, sandbox: bool | None, cache: Cache) -> _Worker | None:
        """The worker, once, if it was started the way this run would start one."""
        worker, self._worker = self._worker, None
        if worker is not None and (sandbox != self.sandbox or cache.root != self.cache_root):
            worker.kill()
            return None
        return worker

    def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.kill()


class _Pool:
    """The live workers of one ``run_cards`` call, so that a stop (Ctrl-C, SIGTERM) kills them all.

    With ``lanes`` (several workers wanted), one worker process is started at once (or adopted:
    ``early``) as a host that runs no card itself: each thread gets a lane of it, so torch is
    imported once for all of them; a thread whose lane died gets another lane while the host has
    pipes for one, and a worker process of its own after that (or when the host did not start).
    """

    def __init__(self, box: Sandbox | None, early: _Worker | None = None, early_warms: bool = False,
                 basic: bool = True, lanes: int = 0) -> None:
        self.box = box
        self.basic = basic  # new workers warm up what torch loads lazily
        self.live: set[_Worker] = set()
        self.stopping = False
        self.lock = threading.Lock()
        self.host: _Worker | None = None
        self.lanes_ok = True  # False once a lane did not start
        self.early: _Worker | None = None  # started before the run; it goes to a worker that does
        self.early_warms = early_warms  # not warm up the optimizers, or, when this is set, to any
        if early is not None:
            self.live.add(early)
            if lanes:
                self.host = early
            else:
                self.early = early
        elif lanes:
            # started here, on the thread that outlives the run: a worker dies with the thread that
            # started it (PR_SET_PDEATHSIG, bubblewrap's --die-with-parent), and the lanes with it
            with contextlib.suppress(Exception):  # then each thread starts a worker of its own
                self.host = _Worker(False, box, basic=False, lanes=lanes + 2)
                self.live.add(self.host)
        if self.host is not None and basic:
            with contextlib.suppress(WorkerDied):
                self.host.warm_up()  # before any lane is forked: each lane starts warm

    def start(self, warm: bool = False) -> _Channel:
        with self.lock:
            if self.stopping:
                raise _Stopped("the build is stopping")
            host = self.host if self.lanes_ok else None
        if host is not None:
            lane = host.lane()
            if lane is not None:
                if warm:
                    lane.warm_up(optim=True)
                return lane
        with self.lock:
            early = self.early if not warm or self.early_warms else None
            if early is not None:
                self.early = None
        if early is not None:
            try:
                if warm or self.basic:
                    early.warm_up(optim=warm)
                return early
            except WorkerDied:  # it died before its first job: a worker of our own, then
                with self.lock:
                    self.live.discard(early)
                early.kill()
        worker = _Worker(warm, self.box, basic=self.basic)
        with self.lock:
            if not self.stopping:
                self.live.add(worker)
                return worker
        worker.kill()
        raise _Stopped("the build is stopping")

    def no_more_lanes(self) -> None:
        """A lane did not start: threads that need a worker from now on start one of their own."""
        with self.lock:
            self.lanes_ok = False

    def close(self, worker: _Channel) -> None:
        if isinstance(worker, _Worker):
            with self.lock:
                self.live.discard(worker)
        worker.close()

    def close_host(self) -> None:
        """Once every thread is done: the host ends after its last lane."""
        with self.lock:
            host, self.host = self.host, None
            if host is not None:
                self.live.discard(host)
        if host is not None:
            host.close()

    def kill_all(self) -> None:
        with self.lock:
            self.stopping = True
            workers, self.live, self.early, self.host = list(self.live), set(), None, None
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
    ends as the sender meant. A signal the process was started ignoring (``nohup tnquiz build``
    ignores SIGHUP) stays ignored: the build goes on.
    """
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        def raise_(signum: int, frame: object) -> None:
            raise _Signalled(signum)

        for signum in (int(signal.SIGTERM), int(signal.SIGHUP)):
            if signal.getsignal(signum) == signal.SIG_IGN:
                continue
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
    isolation: str = "auto",
    early: EarlyWorker | None = None,
) -> list[Outcome]:
    """Exactly one outcome per card, in order: from the cache, or by running it in a worker process.

    Whatever fails on tnquiz's side (a worker that cannot start, a reply that cannot be trusted, a
    thread that dies) becomes that card's ``machinery`` outcome, never cached; the other cards go on.
    ``on_workers`` is called once workers are starting (each takes about a second to import
    torch), so that the caller can use that second. ``on_warning`` gets one line for each thing the
    user should know that does not fail a card (no sandbox, a cache that cannot be written), once
    per call. ``sandbox``: None follows ``TNQUIZ_SANDBOX`` (on unless ``0``). ``isolation``: see
    ``ISOLATION``. ``early``: a worker started before the cards were loaded; this call adopts it
    or kills it.
    """
    try:
        return _run_cards(cards, cache, device, jobs, on_done, on_workers, on_warning, sandbox, isolation,
                          early.take(sandbox, cache) if early is not None else None,
                          early.box if early is not None else None, early.warning if early is not None else None)
    finally:
        if early is not None:
            early.close()


def _run_cards(
    cards: Sequence[Card], cache: Cache, device: str | None, jobs: int | None,
    on_done: Callable[[Outcome], None] | None, on_workers: Callable[[], None] | None,
    on_warning: Callable[[str], None] | None, sandbox: bool | None, isolation: str,
    early: _Worker | None, early_box: Sandbox | None, early_warning: str | None,
) -> list[Outcome]:
    if isolation not in ISOLATION:
        raise ValueError(f"isolation must be one of {', '.join(ISOLATION)}, found {isolation!r}")
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

    todo: list[Item] = []
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
    if not todo and early is not None:
        early.kill()
        early = None
    if todo:
        if early is not None:
            box, sandbox_warning = early_box, early_warning
        else:
            box, sandbox_warning = choose_sandbox(sandbox, hidden=[cache.root])
        if sandbox_warning:
            warn("sandbox", sandbox_warning)
        # Warming the optimizer machinery costs a second or two once (torch._dynamo, sympy, ...);
        # worth it from the second card that would otherwise pay it in its own child. Only the
        # first worker warms it up and only it runs those cards: the others start serving the rest
        # at once, while it warms up.
        warm = sum(_uses_optim(card) for _, card, _, _, _ in todo) >= 2
        q_optim: queue.Queue[Item] = queue.Queue()
        q_rest: queue.Queue[Item] = queue.Queue()
        for item in todo:
            (q_optim if warm and _uses_optim(item[1]) else q_rest).put(item)
        # the first worker takes both queues, the others only the rest: none starts for nothing
        n_workers = max(1, min(jobs or default_jobs(isolation, len(todo)),
                               q_rest.qsize() + (1 if q_optim.qsize() else 0)))

        # the basic warm-up costs about as much as a dozen cards' own lazy loading saves; several
        # workers are lanes of one worker process (one import of torch)
        pool = _Pool(box, early, early_warms=n_workers == 1, basic=len(todo) >= WARM_UP_FROM,
                     lanes=n_workers if n_workers > 1 else 0)
        # Cache entries are written by a thread of their own: a file system that takes a few ms to
        # rename a file then never holds up the threads that keep the workers busy.
        writes: queue.Queue[tuple[str, str, RunResult] | None] = queue.Queue()

        def write_cache() -> None:
            while (entry := writes.get()) is not None:
                try:
                    cache.put(*entry)
                except (OSError, ValueError) as e:
                    warn("cache", f"warning: cannot write the result cache in {cache.root} "
                                  f"({_describe(e)}); results of this build are not cached")

        writer = threading.Thread(target=write_cache, daemon=True)
        writer.start()

        def work(warm_worker: bool) -> None:
            """Run cards from the queues on one worker (a new one after a death) until none is left.

            Up to ``AHEAD`` jobs are sent before the oldest is answered, so the worker goes on to
            the next card while this thread stores the last result. A job whose worker died before
            answering it runs again on the next worker; the job the worker died on is that card's
            failure, as it would be without sending ahead.
            """
            worker: _Channel | None = None
            queues = (q_optim, q_rest) if warm_worker else (q_rest,)
            again: collections.deque[Item] = collections.deque()  # sent to a worker that died first
            sent: collections.deque[tuple[Item, Job, int]] = collections.deque()

            def take() -> Item | None:
                if again:
                    return again.popleft()
                for q in queues:
                    try:
                        return q.get_nowait()
                    except queue.Empty:
                        continue
                return None

            def drop() -> None:
                """Close the worker; what it was sent and did not answer runs again."""
                nonlocal worker
                if worker is not None:
                    with contextlib.suppress(Exception):
                        pool.close(worker)
                worker = None
                again.extendleft(reversed([item for item, _, _ in sent]))
                sent.clear()

            def finish(item: Item, oc: Outcome) -> None:
                if pool.stopping:
                    return
                i, card, _, k, _ = item
                if oc.result is not None:
                    writes.put((k, card.id, oc.result))
                done(i, oc)

            def fill() -> None:
                """Send jobs until ``AHEAD`` are unanswered, or what is queued would not fit, or
                fewer cards are left to share than there are workers."""
                nonlocal worker
                while not pool.stopping and len(sent) < AHEAD:
                    shared = not (warm_worker and not q_optim.empty())  # what take() gives next
                    if sent and not again and shared and q_rest.qsize() < n_workers:
                        return  # the last few cards: for a worker that is free, not behind a running one
                    if (item := take()) is None:
                        return
                    i, card, dev, _, timeout = item
                    try:
                        # decided here, once the workers are starting: torch's import is the longer wait
                        pure = isolation == "auto" and impurity(card) is None
                        job = Job.for_card(i, secrets.token_hex(16), card, dev, timeout, pure=pure)
                        data = _Worker.encode(job)
                        if sent and sum(n for _, _, n in sent) + len(data) > AHEAD_BYTES:
                            again.appendleft(item)  # sent once the worker has answered what it holds
                            return
                        if worker is None:
                            worker = pool.start(warm_worker)
                        worker.send(data)
                    except WorkerDied as e:
                        if sent:  # it died on an earlier job: receiving that one says so
                            again.appendleft(item)
                            return
                        drop()
                        finish(item, Outcome(card, dev, failed=f"{_where(card)}: {e}", executed=True))
                        continue
                    except Exception as e:  # tnquiz's failure, this card's alone
                        drop()
                        finish(item, Outcome(card, dev, machinery=f"{_where(card)}: tnquiz failed to run it: {_describe(e)}"))
                        continue
                    sent.append((item, job, len(data)))

            try:
                if not all(q.empty() for q in queues):
                    with contextlib.suppress(Exception):  # if it cannot start, the first card says why
                        worker = pool.start(warm_worker)  # torch's import starts now, beside the rest
                while not pool.stopping:
                    fill()
                    if not sent or worker is None:
                        return
                    item, job, _ = sent.popleft()
                    _, card, dev, _, _ = item
                    try:
                        oc = _outcome(card, dev, worker.receive(job))
                    except WorkerDied as e:
                        if isinstance(worker, _Lane) and not worker.ready:
                            # a lane that never said it was ready (its host died, or a card wrote
                            # into the pipes the host kept for it): not this card's failure; the
                            # next worker of this thread is a process of its own
                            pool.no_more_lanes()
                            drop()
                            again.appendleft(item)
                            continue
                        drop()
                        oc = Outcome(card, dev, failed=f"{_where(card)}: {e}", executed=True)
                    except ProtocolError as e:
                        drop()
                        oc = Outcome(card, dev, machinery=f"{_where(card)}: {e}", executed=True)
                    except Exception as e:  # tnquiz's failure, this card's alone
                        drop()
                        oc = Outcome(card, dev, machinery=f"{_where(card)}: tnquiz failed to run it: {_describe(e)}")
                    fill()  # the worker goes on while this thread stores the result
                    finish(item, oc)
            finally:
                if worker is not None:
                    pool.close(worker)

        with _signals_stop_the_build(pool), not_inspectable():
            threads = [threading.Thread(target=work, args=(warm and w == 0,), daemon=True)
                       for w in range(n_workers)]
            for t in threads:
                t.start()
            if on_workers:
                on_workers()
            try:
                for t in threads:
                    t.join()
            finally:
                writes.put(None)  # the writer ends once it has written what it was given
            writer.join()  # every result is in the cache when this call returns
            pool.close_host()
            if pool.early is not None:  # no thread took it
                with pool.lock:
                    pool.live.discard(pool.early)
                pool.early.kill()
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
    pool = _Pool(box)

    def one(worker: _Channel | None, i: int) -> tuple[_Channel | None, dict[str, Any]]:
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
        worker: _Channel | None = None
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
                   for _ in range(max(1, min(n_workers or default_jobs("fork", len(jobs)), len(jobs))))]
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
