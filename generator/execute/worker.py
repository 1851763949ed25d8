"""Stage 2b: the snippet worker, the only module that imports torch.

Run as ``python -m generator.execute.worker``. It imports torch once, then serves jobs read as JSON lines on
stdin: cards run in children forked from this process, which never runs a card itself (fresh
namespace, seeded RNG, a temporary working directory), and send their results back over a pipe.
An impure card (``Job.pure`` false) runs alone in a fresh child: whatever it does (change the
default dtype, grad mode, print options or threads, import modules, write files, crash the
interpreter, loop forever) dies with the child. Pure cards run one after another in a reused
child, which compares a fingerprint of its state after each card and ends at any change
(docs/isolation.md). The server waits with the card's timeout and kills a runaway; it answers one
JSON line per job on stdout.

Lanes: started with ``--lanes R:W,...`` (pipes passed by tnquiz), the server forks its lanes when it
reads the first ``{"lane": N}`` (lane ``N`` first, then the spares): each a server of its own on its
pipes, in this process's state (torch imported, warmed up), with its own children, temporary folder
and subreaper. The server then only hosts lanes; at the end of its input it waits for each lane to
end at the end of its own.

CUDA cannot be initialised before a fork, so this process never touches the GPU: a CUDA card's child
initialises CUDA itself (slower per card, equally isolated).
"""

from __future__ import annotations

import contextlib
import gc
import hmac
import importlib
import io
import json
import math
import os
import random
import re
import secrets
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
import types
from typing import Any, TextIO

os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")  # never initialise CUDA in the server

import torch
import torch.nn
import torch.nn.functional

from generator.execute import state
from generator.execute.messages import (
    TEXT_CAP,
    VALUE_CAP,
    WARM_UP,
    WARM_UP_OPTIM,
    Job,
    Reply,
    ReplyStatus,
    clean,
    parse_result,
    parse_session,
    parse_verdict,
    truncate,
)
from generator.execute.sandbox import (
    PR_SET_CHILD_SUBREAPER,
    PR_SET_DUMPABLE,
    PR_SET_PDEATHSIG,
    prctl,
)

MAX_VALUES = 1000
#: A reused child runs at most this many cards, and goes once it has grown by MAX_GROWTH bytes.
MAX_CARDS_PER_CHILD = 200
MAX_GROWTH = 256 << 20
#: A reply frame longer than this is not one of ours.
MAX_REPLY = 64 << 20


def describe(value: Any) -> dict[str, Any]:
    """A live value -> an ``Answer`` dict: torch's own repr plus machine-readable parts."""
    if isinstance(value, torch.Size):
        return {"type": "shape", "text": repr(value), "shape": list(value)}
    if isinstance(value, torch.dtype):
        return {"type": "dtype", "text": str(value), "dtype": str(value)}
    if isinstance(value, torch.Tensor):
        d: dict[str, Any] = {"type": "tensor", "text": repr(value), "shape": list(value.shape),
                             "dtype": str(value.dtype), "device": str(value.device)}
        try:
            if value.numel() <= MAX_VALUES and not value.is_complex() and value.layout == torch.strided:
                d["value"] = value.detach().cpu().tolist()
                json.dumps(d["value"], allow_nan=False)
        except (RuntimeError, TypeError, ValueError):
            d.pop("value", None)
        return d
    if isinstance(value, BaseException):
        return error_answer(value)
    d = {"type": "python", "text": repr(value)}
    try:
        json.dumps(value, allow_nan=False)
        d["value"] = value
    except (TypeError, ValueError, OverflowError):
        pass
    return d


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def error_answer(e: BaseException) -> dict[str, Any]:
    """``TypeName: message``, without terminal colour codes or the card's temporary folder."""
    message = _ANSI.sub("", str(e))
    here = os.getcwd()
    message = message.replace(here + os.sep, "").replace(here, ".")
    return {"type": "error", "text": f"{type(e).__name__}: {message}" if message else type(e).__name__,
            "exception": type(e).__name__, "message": message}


PARTS = ("setup", "code", "answer", "solution", "variant", "attempt")


def _frames(e: BaseException) -> list[list[Any]]:
    """The card's own frames as ``[part, line]``, line counted within that part (1-based).

    Snippets are compiled with the file names ``<setup>``, ``<code>`` and ``<answer>``, so a cached
    error never holds a YAML line: the verify stage maps these onto the file as it is now.
    """
    return [[f.filename[1:-1], f.lineno or 1] for f in traceback.extract_tb(e.__traceback__)
            if f.filename[1:-1] in PARTS and f.filename.startswith("<")]


def _error(message: str, e: BaseException | None) -> dict[str, Any]:
    return {"message": message, "frames": _frames(e) if e is not None else []}


def _raised_matches(e: BaseException, name: str) -> bool:
    short = name.split(".")[-1]
    return any(c.__name__ == short for c in type(e).__mro__)


def _seed(seed: int, cuda: bool) -> None:
    random.seed(seed)
    # torch.manual_seed also queues lazy CUDA/MPS/XPU seeding (tens of ms a card); the CPU
    # generator is all a CPU card uses, and a CUDA card seeds CUDA once it is initialised.
    torch.default_generator.manual_seed(seed)
    if cuda:
        torch.cuda.manual_seed_all(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed)


def run_card(job: dict[str, Any]) -> dict[str, Any]:
    """Run one card in this (forked) process; returns a ``RunResult`` dict or a skip."""
    # --- tnquiz import: a note's code as one session (generator/execute/session.py) ---
    if job.get("kind") == "session":
        from generator.execute.session import run_session
        return run_session(job, torch, describe, error_answer, _seed)
    # --- end tnquiz import ---
    for req in job.get("requires", ()):
        if req == "cuda" and not torch.cuda.is_available():
            return {"skipped": "requires cuda: no CUDA device is available"}
        if req in ("torchvision", "numpy"):
            try:
                __import__(req)
            except Exception as e:  # a broken install fails in many ways
                return {"skipped": f"requires {req}: it cannot be imported here ({type(e).__name__}: {e})",
                        "cacheable": True}
    dev = torch.device(job["device"])
    if dev.type == "cuda" and not torch.cuda.is_available():
        return {"skipped": "requires cuda: no CUDA device is available"}
    if job.get("kind") == "grade":
        return {"verdict": grade_attempt(job, dev)}
    if job.get("solution"):
        return _capped(run_exercise(job, dev))
    _seed(job["seed"], dev.type == "cuda")
    # The card is a script: its namespace is a fresh `__main__`, so a class it defines pickles
    # (torch.save of a whole model) and loads back as in a user's own script.
    main_module = types.ModuleType("__main__")
    sys.modules["__main__"] = main_module
    ns: dict[str, Any] = main_module.__dict__
    ns.update({"torch": torch, "nn": torch.nn, "F": torch.nn.functional, "device": dev})
    out = _CappedText()
    result: dict[str, Any] = {"answer": None, "choices": [], "stdout": "", "error": None,
                              "torch_version": torch.__version__, "device": dev.type}
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        try:
            if job["setup"]:
                exec(compile(job["setup"], "<setup>", "exec"), ns)
            if job["code"]:
                exec(compile(job["code"], "<code>", "exec"), ns)
        except BaseException as e:
            if job.get("raises") and _raised_matches(e, job["raises"]):
                result["answer"] = error_answer(e)
            elif job.get("raises"):
                result["error"] = _error(f"expected `{job['raises']}` to be raised, found {error_answer(e)['text']}", e)
            else:
                result["error"] = _error(error_answer(e)["text"], e)
        else:
            if job.get("raises"):
                result["error"] = _error(f"expected `{job['raises']}` to be raised, found that the code finished without an exception", None)
            elif job.get("output"):
                result["answer"] = None  # filled from stdout below
            elif job.get("answer"):
                try:
                    value = eval(compile(job["answer"].strip(), "<answer>", "eval"), ns)
                    result["answer"] = describe(value)
                except BaseException as e:
                    result["error"] = _error(error_answer(e)["text"], e)
        if result["error"] is None:
            for expr in job.get("choices", ()):
                try:
                    result["choices"].append(describe(eval(compile(expr.strip(), "<choice>", "eval"), ns)))
                except BaseException as e:
                    result["choices"].append(error_answer(e))
    result["stdout"] = out.getvalue()
    if job.get("output") and result["error"] is None:
        # the printed text is the answer: stored once, there
        result["answer"] = {"type": "output", "text": result["stdout"]}
        result["stdout"] = ""
    result["seconds"] = time.perf_counter() - t0
    return _capped(result)


class _CappedText(io.TextIOBase):
    """A stdout that keeps the first ``TEXT_CAP`` characters and counts the rest (a card may print GBs)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        s = str(s)
        room = TEXT_CAP - self.kept
        if room > 0:
            self.parts.append(s[:room])
            self.kept += min(room, len(s))
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def getvalue(self) -> str:
        """What was printed: capped and marked as ``truncate`` does."""
        return truncate("".join(self.parts), dropped=self.dropped)


def _cap_answer(d: Any) -> Any:
    if not isinstance(d, dict) or d.get("type") == "output":  # output: capped as it was printed
        return d
    d = dict(d)
    for k in ("text", "message"):
        if isinstance(d.get(k), str):
            d[k] = truncate(d[k])
    if "value" in d:
        try:
            if len(json.dumps(d["value"], allow_nan=False)) > VALUE_CAP:
                del d["value"]
        except (TypeError, ValueError, OverflowError, RecursionError):
            del d["value"]
    return d


def _capped(result: dict[str, Any]) -> dict[str, Any]:
    """Stored text capped (answer and choice texts, error messages; stdout is capped as it is printed),
    unencodable text escaped."""
    result["answer"] = _cap_answer(result.get("answer"))
    result["choices"] = [_cap_answer(c) for c in result.get("choices", [])]
    result["variants"] = [_cap_answer(v) for v in result.get("variants", [])]
    if isinstance(result.get("error"), dict):
        result["error"]["message"] = truncate(result["error"]["message"])
    return clean(result)


# --- exercises (`kind: exercise`): the build's reference run, and grading a learner's attempt ------
# Each setup (the card's, then each variant's) runs in a fresh namespace, seeded the same way at
# build and at grading time, so the learner's code sees exactly the inputs the reference saw.

_MISSING = object()


_DEFAULT_DTYPE = torch.get_default_dtype()


def _namespace(dev: torch.device, seed: int) -> dict[str, Any]:
    """A fresh namespace for one input. All inputs run in one forked child, so what an attempt most
    often changes globally is put back first: the default dtype, grad mode, the seed."""
    torch.set_default_dtype(_DEFAULT_DTYPE)
    torch.set_grad_enabled(True)
    _seed(seed, dev.type == "cuda")
    main_module = types.ModuleType("__main__")
    sys.modules["__main__"] = main_module
    ns: dict[str, Any] = main_module.__dict__
    ns.update({"torch": torch, "nn": torch.nn, "F": torch.nn.functional, "device": dev})
    return ns


def _exercise_run(job: dict[str, Any], dev: torch.device, setup: str, setup_name: str, code: str,
                  code_name: str) -> tuple[str, Any]:
    """``setup`` then ``code`` then the answer: ``("value", v)``, ``("raised", e)`` (by the code or
    the answer) or ``("setup", e)`` (the card's own setup failed)."""
    ns = _namespace(dev, job["seed"])
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            exec(compile(setup, setup_name, "exec"), ns)
        except BaseException as e:
            return "setup", e
        try:
            exec(compile(code, code_name, "exec"), ns)
            if job.get("raises"):
                return "value", None
            return "value", eval(compile(job["answer"].strip(), "<answer>", "eval"), ns)
        except BaseException as e:
            return "raised", e


def _setups(job: dict[str, Any]) -> list[tuple[str, str]]:
    return [(job["setup"], "<setup>"), *((v, "<variant>") for v in job.get("variants", ()))]


def _clip(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short(value: Any, limit: int = 60) -> str:
    return _clip(repr(value), limit)


def _expected(ref: dict[str, Any]) -> Any:
    """The reference value rebuilt from its stored description; ``_MISSING`` when it is not all there."""
    if ref["type"] == "shape":
        return torch.Size(ref["shape"])
    if ref["type"] == "dtype":
        return getattr(torch, ref["dtype"].removeprefix("torch."), _MISSING)
    if ref["type"] == "tensor" and "value" in ref:
        dtype = getattr(torch, str(ref.get("dtype", "")).removeprefix("torch."), None)
        if isinstance(dtype, torch.dtype):
            return torch.tensor(ref["value"], dtype=dtype).reshape(ref["shape"])
    return _MISSING


def _differs(got: Any, ref: dict[str, Any], expected: Any, tol: float | None) -> str | None:
    """How ``got`` differs from the reference (described by ``ref``, live as ``expected``), or None."""
    if ref["type"] == "error":
        if not isinstance(got, BaseException):
            return f"finished without an exception, expected {ref['exception']} to be raised"
        if type(got).__name__ != ref["exception"]:
            return f"raised {error_answer(got)['text']}, expected {ref['exception']}"
        return None
    if isinstance(got, BaseException):
        return f"raised {error_answer(got)['text']}"
    if ref["type"] == "shape":
        if not isinstance(got, torch.Size):
            return f"got {type(got).__name__} {_short(got)}, expected a torch.Size {tuple(ref['shape'])}"
        return None if list(got) == ref["shape"] else f"shape {tuple(got)}, expected {tuple(ref['shape'])}"
    if ref["type"] == "dtype":
        return None if str(got) == ref["dtype"] else f"dtype {_short(got)}, expected {ref['dtype']}"
    if ref["type"] == "tensor":
        if not isinstance(got, torch.Tensor):
            return f"got {type(got).__name__} {_short(got)}, expected a tensor of shape {tuple(ref['shape'])}"
        if list(got.shape) != ref["shape"]:
            return f"shape {tuple(got.shape)}, expected {tuple(ref['shape'])}"
        if str(got.dtype) != ref["dtype"]:
            return f"dtype {got.dtype}, expected {ref['dtype']}"
        g = got.detach().cpu()
        e = expected.detach().cpu()
        if tol is not None and (g.is_floating_point() or g.is_complex()):
            same = torch.isclose(g, e, rtol=tol, atol=tol, equal_nan=True)
        elif g.is_floating_point():
            same = (g == e) | (g.isnan() & e.isnan())
        else:
            same = g == e
        if bool(same.all()):
            return None
        at = [int(i) for i in (~same).nonzero()[0].tolist()]
        return f"values differ at {at}: {g[tuple(at)].item()!r}, expected {e[tuple(at)].item()!r}"
    text = describe(got)["text"]
    if text == ref["text"]:
        return None
    if (tol is not None and isinstance(ref.get("value"), (int, float)) and isinstance(got, (int, float))
            and math.isclose(float(got), float(ref["value"]), rel_tol=tol, abs_tol=tol)):
        return None
    return f"got {_short(got)}, expected {_clip(ref['text'])}"


def _raised_at(e: BaseException, code: str, part: str) -> str:
    """`` (line 2: `y = x.view(-1)`)`` for the last frame of ``part`` in the traceback, or nothing."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == f"<{part}>"]
    if isinstance(e, SyntaxError) and e.filename == f"<{part}>":
        n = e.lineno or 1
    elif frames:
        n = frames[-1].lineno or 1
    else:
        return ""
    lines = code.splitlines()
    src = lines[n - 1].strip() if 0 < n <= len(lines) else ""
    return f" (line {n}: `{src}`)" if src else f" (line {n})"


def run_exercise(job: dict[str, Any], dev: torch.device) -> dict[str, Any]:
    """The build of an exercise: the solution's answer on every setup, and the build-time checks
    (a blank attempt must not pass; each variant must change the result)."""
    result: dict[str, Any] = {"answer": None, "choices": [], "stdout": "", "error": None, "variants": [],
                              "blank_passes": False, "same_variants": [],
                              "torch_version": torch.__version__, "device": dev.type}
    t0 = time.perf_counter()
    raises = job.get("raises")
    live: list[tuple[Any, dict[str, Any]]] = []
    for i, (setup, name) in enumerate(_setups(job)):
        where = f"variant {i}: " if i else ""
        what, value = _exercise_run(job, dev, setup, name, job["solution"], "<solution>")
        if what == "setup":
            result["error"] = _error(f"{where}{error_answer(value)['text']}", value)
        elif raises and what == "raised" and _raised_matches(value, raises):
            answer = error_answer(value)
        elif raises:
            found = error_answer(value)["text"] if what == "raised" else "that the solution finished without an exception"
            result["error"] = _error(f"{where}expected `{raises}` to be raised, found {found}",
                                     value if what == "raised" else None)
        elif what == "raised":
            result["error"] = _error(f"{where}{error_answer(value)['text']}", value)
        else:
            answer = describe(value)
        if result["error"] is not None:
            break
        if i == 0:
            result["answer"] = answer
        else:
            result["variants"].append(answer)
        live.append((value, answer))
    if result["error"] is None:
        tol = job.get("tolerance")
        for i in range(1, len(live)):
            if any(_differs(live[i][0], ref, value, tol) is None for value, ref in live[:i]):
                result["same_variants"].append(i)
        blank = grade_attempt({**job, "attempt": "", "references": [a for _, a in live]}, dev)
        result["blank_passes"] = bool(blank["correct"])
    result["seconds"] = time.perf_counter() - t0
    return result


def grade_attempt(job: dict[str, Any], dev: torch.device) -> dict[str, Any]:
    """Run the learner's ``attempt`` on every setup and compare its answer with the reference's.

    ``references`` are the build's answers (the card's setup first); where one does not hold the
    whole value (a big tensor), the solution runs again beside the attempt for a live reference.
    """
    attempt = job["attempt"]
    tol = job.get("tolerance")
    setups = _setups(job)
    for i, ((setup, name), ref) in enumerate(zip(setups, job["references"], strict=True)):
        on = "on the card's setup" if i == 0 else f"on variant {i} (`{_clip(setup, 50)}`)"
        what, got = _exercise_run(job, dev, setup, name, attempt, "<attempt>")
        if what == "setup":
            return {"correct": False, "variant": i, "message": f"the card's setup failed {on}: {error_answer(got)['text']}"}
        if job.get("raises") and what == "value":
            got = None  # finished without raising: compared below as no exception
        expected = _expected(ref)
        if expected is _MISSING and ref["type"] == "tensor":
            w, expected = _exercise_run(job, dev, setup, name, job["solution"], "<solution>")
            if w != "value":
                return {"correct": False, "variant": i, "message": f"the reference solution failed {on}"}
        diff = _differs(got, ref, expected, tol)
        if diff is not None:
            if isinstance(got, BaseException):
                diff += _raised_at(got, attempt, "attempt")
            return {"correct": False, "variant": i, "message": f"{on}: {diff}"}
    n = len(setups)
    return {"correct": True, "variant": None,
            "message": f"same result as the solution on {'the card' if n == 1 else f'all {n} inputs'}"}


_FRAME = 8  # bytes of a frame's length prefix


def _frame(data: bytes) -> bytes:
    return len(data).to_bytes(_FRAME, "big") + data


def _read_exactly(fd: int, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int) -> bytes | None:
    """One length-prefixed message; None at the end of the stream (or a cut one)."""
    head = _read_exactly(fd, _FRAME)
    return None if head is None else _read_exactly(fd, int.from_bytes(head, "big"))


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _run_jobs(job_r: int, res_w: int) -> None:
    """Run the jobs sent to this child, one after another, while each is pure and left no trace.

    An impure job is the child's only one. Before its first pure job the child takes a fingerprint
    of its (still pristine) state; after each pure job it compares, and stops at any change, at
    MAX_GROWTH bytes grown, or when the server closes the pipe (each reply says which). Each reply
    carries the job's ``token``, which only the server and this function know (a pure card cannot
    reach the frames that hold it): bytes a card writes into this process's pipes through
    ``/proc/self/fd`` cannot pass for a reply, and bytes in the job pipe end the child.
    """
    baseline: dict[str, Any] | None = None
    start_rss = 0
    while (data := _read_frame(job_r)) is not None:
        job = json.loads(data)
        token = job.pop("token", "")
        pure = job.get("pure") is True
        if pure and baseline is None:
            baseline, start_rss = state.fingerprint(), _rss()
        res = run_card(job)
        left: list[str] = []
        if pure and baseline is not None:
            left = state.changed(baseline, state.fingerprint())
            if _rss() - start_rss > MAX_GROWTH:
                left.append("memory")
            if select.select([job_r], [], [], 0)[0]:  # the server sends nothing while a card runs
                left.append("the job pipe")
        _write_all(res_w, _frame(json.dumps({"token": token, "result": res, "left": left}).encode()))
        if not pure or left:
            return


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _child(job_r: int, res_w: int, tmp: str) -> None:
    """In a forked child: isolate, run the jobs sent, write each result, exit without cleanup."""
    code = 0
    try:
        os.setpgid(0, 0)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # never outlive the server
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        for fd in _parent_fds:  # other children's pipes: not ours to hold
            with contextlib.suppress(OSError):
                os.close(fd)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)  # a card calling input() must not read our jobs
        os.dup2(devnull, 1)  # nor write into our protocol
        os.dup2(devnull, 2)
        os.chdir(tmp)
        _run_jobs(job_r, res_w)  # none (the server is shutting down), one, or several pure ones
        os.chdir("/")
        os.close(res_w)  # the server has its answer now, while this process is torn down
    except BaseException:
        code = 70
    finally:
        os._exit(code)


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        extra = " (out of memory?)" if sig == signal.SIGKILL else ""
        return f"the interpreter was killed by {name}{extra}"
    return f"the interpreter exited with status {os.WEXITSTATUS(status)} before giving a result"


_exiting: dict[int, str] = {}  # children that gave their result (or were killed) -> their temp folder
_parent_fds: set[int] = set()  # pipe ends this server holds; a new child closes them


class _Spare:
    """A child forked ahead of time, waiting for its job: the fork is off the critical path.

    It is forked from this server, which never runs a card, so it starts in exactly the pristine
    state a child forked on demand would. Its working folder is made here, so that the server can
    remove it whatever becomes of the child.
    """

    def __init__(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="tnquiz-card-")
        job_r, self.job_w = os.pipe()
        self.res_r, res_w = os.pipe()
        _parent_fds.update((self.job_w, self.res_r))
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - runs in the child
            _child(job_r, res_w, self.tmp)
        os.close(job_r)
        os.close(res_w)

    cards = 0  # jobs sent to this child
    job_open = True

    def send(self, job: Job, token: str) -> None:
        data = job.to_dict()
        del data["nonce"]  # the card's process never sees it, so it cannot forge a reply
        data["token"] = token  # known to the child's machinery; a pure card cannot reach it
        _write_all(self.job_w, _frame(json.dumps(data).encode()))
        self.cards += 1
        if not job.pure:
            self.close_job()  # its only job

    def close_job(self) -> None:
        if self.job_open:
            self.job_open = False
            os.close(self.job_w)
            _parent_fds.discard(self.job_w)

    def close_result(self) -> None:
        os.close(self.res_r)
        _parent_fds.discard(self.res_r)


_spare: _Spare | None = None
_reused: _Spare | None = None  # the child that runs pure cards one after another, between two of them


def _children() -> set[int]:
    """This process's live (or zombie) children, orphans it adopted as a subreaper included."""
    pids: set[int] = set()
    with contextlib.suppress(OSError):
        for tid in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError), open(f"/proc/self/task/{tid}/children") as fh:
                pids.update(int(p) for p in fh.read().split())
    return pids


def _kill_strays() -> None:
    """Kill what cards left behind: every child of this server that is not a card's own process.

    A card's background processes are in its process group (killed with it); one that started a
    new session escapes that, but as this server is a subreaper it becomes our child once its
    parent is gone, and is killed here (its own children then come to us: repeat).
    """
    for _ in range(100):
        known = set(_exiting) | set(_running) | set(_lanes) | {c.pid for c in (_spare, _reused) if c is not None}
        strays = _children() - known
        if not strays:
            return
        for pid in strays:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for pid in strays:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


_running: set[int] = set()  # the child running the current card


def _reap(block: bool) -> None:
    """Collect children that already gave their result, and kill what they left running."""
    for pid in list(_exiting):
        try:
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            tmp = _exiting.pop(pid)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # anything the card started in the background
            shutil.rmtree(tmp, ignore_errors=True)
    _kill_strays()


def _read_reply(child: _Spare, deadline: float) -> tuple[bytes | None, str]:
    """The child's next frame and ``"ok"``; or None and why not: ``"timeout"``, ``"ended"`` (the
    child closed its end without a whole frame) or ``"malformed"`` (a frame too long, or bytes after
    it: the child sends one frame a job, so a card wrote into its reply channel)."""
    buf = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None, "timeout"
        ready, _, _ = select.select([child.res_r], [], [], left)
        if not ready:
            continue
        chunk = os.read(child.res_r, 1 << 16)
        if not chunk:
            return None, "ended"
        buf += chunk
        if len(buf) >= _FRAME:
            need = _FRAME + int.from_bytes(buf[:_FRAME], "big")
            if need - _FRAME > MAX_REPLY:
                return None, "malformed"
            if len(buf) >= need:
                return (buf[_FRAME:], "ok") if len(buf) == need else (None, "malformed")


def _retire(child: _Spare) -> None:
    """Done with a child that gave its result: it exits (or has) and is reaped later."""
    child.close_job()
    child.close_result()
    _exiting[child.pid] = child.tmp


def serve_one(job: Job) -> Reply:
    global _spare, _reused
    if job.pure and _reused is not None:
        child, _reused = _reused, None
    else:
        child, _spare = _spare or _Spare(), None
    _running.add(child.pid)
    deadline = time.monotonic() + job.timeout
    token = secrets.token_hex(16)
    try:
        child.send(job, token)
    except OSError:  # a reused child that died between two cards: this card gets a fresh one
        _running.discard(child.pid)
        _retire(child)
        child, _spare = _spare or _Spare(), None
        _running.add(child.pid)
        child.send(job, token)
    if _spare is None:
        _spare = _Spare()  # forked while the card runs
    try:
        data, why = _read_reply(child, deadline)
    except BaseException:
        _running.discard(child.pid)
        _retire(child)
        raise
    pid = child.pid
    where = job.where
    reply: Any = None
    if data is not None:
        with contextlib.suppress(ValueError):
            reply = json.loads(data)
    _running.discard(pid)
    if not isinstance(reply, dict) or not hmac.compare_digest(str(reply.get("token")), token):
        child.close_job()
        child.close_result()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        shutil.rmtree(child.tmp, ignore_errors=True)
        _kill_strays()
        if why == "timeout":
            return Reply(job.job, job.nonce, ReplyStatus.TIMEOUT,
                         reason=f"{where}: timed out after {job.timeout:g} s and was killed")
        if why != "ended":  # a frame that does not answer this job, or bytes around it
            return Reply(job.job, job.nonce, ReplyStatus.CRASH,
                         reason=f"{where}: crashed: it wrote into its own reply channel")
        return Reply(job.job, job.nonce, ReplyStatus.CRASH, reason=f"{where}: crashed: {_describe_status(status)}")
    res = reply.get("result")
    if job.pure and reply.get("left") == [] and child.cards < MAX_CARDS_PER_CHILD:
        _reused = child  # it has run only pure cards, each of which left it as it was forked
    else:
        _retire(child)  # its teardown overlaps the next card
    _reap(block=False)
    if job.kind == "grade":
        try:
            verdict = parse_verdict(res.get("verdict") if isinstance(res, dict) else None)
        except ValueError as e:
            return Reply(job.job, job.nonce, ReplyStatus.CRASH, reason=f"{where}: crashed: it gave a malformed verdict ({e})")
        return Reply(job.job, job.nonce, ReplyStatus.OK, verdict=verdict)
    if job.kind == "session":
        try:
            return Reply(job.job, job.nonce, ReplyStatus.OK, session=parse_session(res))
        except ValueError as e:
            return Reply(job.job, job.nonce, ReplyStatus.CRASH, reason=f"{where}: crashed: it gave a malformed result ({e})")
    if isinstance(res, dict) and "skipped" in res:
        return Reply(job.job, job.nonce, ReplyStatus.SKIPPED, reason=str(res["skipped"]),
                     cacheable=res.get("cacheable") is True)
    try:
        result = parse_result(res)
    except ValueError as e:  # the card wrote into its own result pipe: its answer, not anyone else's
        return Reply(job.job, job.nonce, ReplyStatus.CRASH, reason=f"{where}: crashed: it gave a malformed result ({e})")
    return Reply(job.job, job.nonce, ReplyStatus.OK, result=result)


def _shutdown() -> None:
    global _spare, _reused
    if _reused is not None:
        _retire(_reused)  # the end of its jobs: it exits
        _reused = None
    if _spare is not None:
        _spare.close_job()  # an empty job: the spare exits
        _spare.close_result()
        _exiting[_spare.pid] = _spare.tmp
        _spare = None
    _reap(block=True)


def _stop(signum: int, frame: object) -> None:
    """Killed by tnquiz (or with it): take every card down, remove the temporary root, exit."""
    for pid in _lanes:  # each takes its own cards down (and they die with us: PR_SET_PDEATHSIG)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    for pid in set(_running) | set(_exiting) | {c.pid for c in (_spare, _reused) if c is not None}:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    _running.clear()
    _exiting.clear()
    with contextlib.suppress(Exception):
        _kill_strays()
    root = os.environ.get("TMPDIR", "")
    if os.path.basename(root).startswith(("tnquiz-worker-", "tnquiz-lane-")):
        for entry in os.listdir(root):
            shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
    os._exit(128 + signum)


def _warm_up() -> None:
    """Run, once, what torch loads lazily on first use, so that children do not each pay for it.

    Tensor reprs, small ops, modules, serialization, the DataLoader: this halves the time of a
    trivial card in a fresh child; asked for by the runner when it has more than a few cards to run. Nothing here leaves state a card can see: every child re-seeds, and these calls
    change no global setting.
    """
    import io as _io

    importlib.import_module("torch.utils.data")
    if "numpy" in sys.modules:  # torch imported it: every card seeds it, so load numpy.random now
        importlib.import_module("numpy.random")
    model = _small_model()
    repr(model)
    repr(torch.zeros(2, 2)), repr(torch.zeros(2, dtype=torch.int64)), repr(torch.zeros(2) > 0)
    repr(torch.zeros(2).shape), repr(torch.float32)
    buf = _io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    torch.load(buf)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(4, 2)), batch_size=2)
    list(loader)


def _small_model() -> torch.nn.Module:
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Flatten(), torch.nn.Linear(2, 2))
    loss = torch.nn.functional.cross_entropy(model(torch.ones(2, 1, 4, 4)), torch.tensor([0, 1]))
    loss.backward()
    return model


def _warm_up_optim() -> None:
    """The first optimizer imports some 800 modules (``torch._dynamo``, sympy, ...; a second or two,
    and 70 MB that every fork then copies page tables for): done only when asked, when the cards to
    run use ``torch.optim``."""
    model = _small_model()
    for name in ("torch.optim", "torch.optim.lr_scheduler"):
        importlib.import_module(name)
    for opt in (torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), torch.optim.Adam(model.parameters())):
        opt.step()
        opt.zero_grad()


_warmed: set[str] = set()


def _warm(what: str) -> dict[str, Any]:
    """Warm up as asked (``WARM_UP``: the basics; ``WARM_UP_OPTIM``: those and the optimizers), once
    each. The children forked before are let go, so that every child from now on starts in the
    same state; then this process's objects are frozen again (children never scan them)."""
    try:
        if WARM_UP not in _warmed:
            _warm_up()
            _warmed.add(WARM_UP)
        if what == WARM_UP_OPTIM and what not in _warmed:
            _warm_up_optim()
            _warmed.add(what)
        said: dict[str, Any] = {"warmed": True}
    except Exception as e:  # the cards will pay for it themselves
        said = {"warmed": False, "reason": f"{type(e).__name__}: {e}"}
    _shutdown()  # the spare (and a reused child, if any) forked before: they exit now
    gc.collect()
    gc.freeze()
    return said


_lane_fds: dict[int, tuple[int, int]] = {}  # lane number -> (job pipe, reply pipe), until forked
_lanes: set[int] = set()  # the pids of the lanes forked


def _lane_request(line: str) -> int | None:
    """The lane number a ``{"lane": N}`` line asks for (None: not such a line)."""
    if not line.startswith('{"lane"'):
        return None
    with contextlib.suppress(ValueError):
        said = json.loads(line)
        if isinstance(said, dict) and set(said) == {"lane"} and isinstance(said["lane"], int):
            return int(said["lane"])
    return None


def _fork_lane(k: int) -> None:
    """Fork lane ``k``: a server of its own, on the pipes tnquiz passed for it, in this process's
    state (torch imported, warmed up as asked so far). A lane that cannot start closes its pipes
    unused: tnquiz then sees it end before saying it is ready."""
    fds = _lane_fds.pop(k, None)
    if fds is None:
        return
    try:
        pid = os.fork()
    except OSError:
        pid = -1
    if pid == 0:  # pragma: no cover - runs in the lane
        code = 70
        try:
            _become_lane(*fds)
            code = 0
        finally:
            os._exit(code)
    for fd in fds:
        os.close(fd)
        _parent_fds.discard(fd)
    if pid > 0:
        _lanes.add(pid)


def _become_lane(job_r: int, res_w: int) -> None:
    """In a freshly forked lane: forget the server's children and pipes, take the lane's pipes as
    stdin and stdout, and serve jobs there as the server does; it ends at the end of its input."""
    global _spare, _reused
    prctl(PR_SET_CHILD_SUBREAPER, 1)  # not inherited: what this lane's cards detach comes to it
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # the server gone: stop every card
    for fd in _parent_fds - {job_r, res_w}:  # the server's children's pipes, the other lanes'
        with contextlib.suppress(OSError):
            os.close(fd)
    _parent_fds.clear()
    _lane_fds.clear()
    _lanes.clear()
    _spare = _reused = None
    _exiting.clear()
    _running.clear()
    # cards' folders under a root of the lane's own: a lane that stops cleans only its own
    root = tempfile.mkdtemp(prefix="tnquiz-lane-")
    os.environ["TMPDIR"] = tempfile.tempdir = root
    os.dup2(job_r, 0)
    os.dup2(res_w, 1)
    os.close(job_r)
    os.close(res_w)
    try:
        # new streams: the server's stdin may hold lines it read ahead, which are not this lane's
        with open(0, encoding="utf-8", closefd=False) as jobs, open(1, "w", encoding="utf-8", closefd=False) as proto:
            _serve(jobs, proto)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _serve(jobs: TextIO, proto: TextIO) -> None:
    """Answer each line of ``jobs`` on ``proto`` (the protocol: module docstring) until it ends."""
    proto.write(json.dumps({"ready": True, "torch": torch.__version__}) + "\n")
    proto.flush()
    for line in jobs:
        if not line.strip():
            continue
        if line.strip() in (json.dumps(WARM_UP), json.dumps(WARM_UP_OPTIM)):
            proto.write(json.dumps(_warm(json.loads(line))) + "\n")
            proto.flush()
            continue
        if (k := _lane_request(line)) is not None:  # answered by the lane itself, on its own pipe
            # every lane at once, the spares too: this process then holds no lane's pipe while
            # cards run (a card that could open it would otherwise spoil a lane not started yet)
            for n in sorted(_lane_fds, key=lambda n: n != k):
                _fork_lane(n)
            continue
        try:
            job = Job.from_dict(json.loads(line))
        except ValueError as e:  # not a job tnquiz sent: answer so that the runner stops trusting us
            reply = Reply(-1, "", ReplyStatus.ERROR, reason=f"the worker received a malformed job ({e})")
        else:
            try:
                reply = serve_one(job)
            except Exception as e:  # the machinery failed: never cached, reported as such
                reply = Reply(job.job, job.nonce, ReplyStatus.ERROR,
                              reason=f"{job.where}: the worker failed: {type(e).__name__}: {e}")
        proto.write(json.dumps(reply.to_dict()) + "\n")
        proto.flush()
    _shutdown()
    for fds in _lane_fds.values():  # no lane was asked for: their pipes were never used
        for fd in fds:
            os.close(fd)
    _lane_fds.clear()
    for pid in list(_lanes):  # each ends at the end of its own input
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        _lanes.discard(pid)
    _reap(block=True)  # what a lane's cards left, adopted once the lane was gone


def _lane_args(argv: list[str]) -> dict[int, tuple[int, int]]:
    """``--lanes R:W,R:W`` (pipes tnquiz passed for lanes) -> lane number -> (R, W)."""
    if len(argv) == 2 and argv[0] == "--lanes":
        pairs = [p.split(":") for p in argv[1].split(",") if p]
        return {k: (int(r), int(w)) for k, (r, w) in enumerate(pairs)}
    return {}


def main() -> None:
    prctl(PR_SET_DUMPABLE, 0)  # cards (our children) cannot open /proc/<us>/fd or /mem to forge replies
    prctl(PR_SET_CHILD_SUBREAPER, 1)  # what a card detaches comes back to us, to be killed
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # tnquiz gone (even killed): stop every card
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _stop)
    _lane_fds.update(_lane_args(sys.argv[1:]))
    for fds in _lane_fds.values():
        _parent_fds.update(fds)  # a card's child closes them
    torch.set_num_threads(int(os.environ.get("TNQUIZ_THREADS", "1")))
    gc.collect()
    gc.freeze()  # children never scan (and so never copy-on-write) the objects of this process
    proto = sys.stdout
    sys.stdout = sys.stderr  # nothing but protocol lines on the real stdout
    _serve(sys.stdin, proto)
    # Every card is reaped and its folder removed: skip the interpreter's teardown of torch (about
    # 0.4 s that every build would wait for at its end); nothing is left to flush or release.
    os._exit(0)


if __name__ == "__main__":
    main()
