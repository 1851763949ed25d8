"""A note's code, run in order in one session (``tnquiz import``); runs inside the worker.

The worker hands a ``{"kind": "session", ...}`` job to :func:`run_session` in the forked child it made
for it, where torch is already imported: the child's isolation (its own process group and temporary
folder, killed on timeout) is the session's. The steps run in order in one namespace; a step that
raises does not stop the ones after it. To tell values that come from an unseeded random generator,
the session also runs in a second forked child seeded differently: a step whose result differs
between the two is ``random``.

A step that mentions CUDA (other than the portable ``'cuda' if torch.cuda.is_available() else 'cpu'``)
is skipped where no CUDA device is available, a step importing a package
that is not installed is skipped naming it, and so is every later step that uses a name they define.
This module never imports torch itself: the worker passes in what it needs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import types
from collections.abc import Callable
from typing import Any

#: Printed text kept per step: a note's claim is never longer, and a runaway print stays small.
MAX_STDOUT = 100_000

_CUDA = re.compile(r"\bcuda\b|\.gpu\(\)|\bnccl\b", re.IGNORECASE)
#: The portable idiom picks the CPU where there is no GPU: it needs none.
_PORTABLE = re.compile(r"""(['"])cuda(?::\d+)?\1\s+if\s+torch\.cuda\.is_available\(\)\s+else\s+(['"])cpu\2""")


class _StepTimeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _StepTimeout


def _missing_package(e: BaseException) -> str | None:
    name = getattr(e, "name", None)
    if not isinstance(e, ModuleNotFoundError) or not name:
        return None
    top = name.split(".")[0]
    try:
        return top if importlib.util.find_spec(top) is None else None
    except (ImportError, ValueError):
        return top


def _run(job: dict[str, Any], seed: int, torch: Any, describe: Callable[[Any], dict[str, Any]],
         error_answer: Callable[[BaseException], dict[str, Any]],
         seed_all: Callable[[int, bool], None]) -> list[dict[str, Any]]:
    cuda = bool(job.get("cuda"))
    seed_all(seed, False)
    main_module = types.ModuleType("__main__")
    sys.modules["__main__"] = main_module
    ns: dict[str, Any] = main_module.__dict__
    ns.update({"torch": torch, "nn": torch.nn, "F": torch.nn.functional})
    skipped_names: dict[str, str] = {}
    results: list[dict[str, Any]] = []
    per_step = float(job.get("step_timeout", 10))
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for step in job["steps"]:
            res: dict[str, Any] = {"stdout": "", "value": None, "error": None, "skipped": None}
            results.append(res)
            if not step.get("run", True):
                res["skipped"] = "not needed by any claim"
                continue
            if step["mode"] == "syntax":
                res["error"] = {"type": "error", "text": step["error"], "exception": "SyntaxError",
                                "message": step["error"]}
                continue
            used = [n for n in step["uses"] if n in skipped_names]
            if used:
                res["skipped"] = skipped_names[used[0]]
            elif not cuda and _CUDA.search(_PORTABLE.sub("", step["code"])):
                res["skipped"] = "needs a GPU: no CUDA device is available"
            if res["skipped"]:
                for n in step["defines"]:
                    skipped_names[n] = res["skipped"]
                continue
            for n in step["defines"]:
                skipped_names.pop(n, None)
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                signal.setitimer(signal.ITIMER_REAL, per_step)
                try:
                    if step["mode"] == "eval":
                        value = eval(compile(step["code"].strip(), f"<note line {step['line']}>", "eval"), ns)
                        if value is not None:
                            res["value"] = describe(value)
                    else:
                        exec(compile(step["code"], f"<note line {step['line']}>", "exec"), ns)
                except _StepTimeout:
                    res["error"] = {"type": "error", "text": f"TimeoutError: ran over {per_step:g} s",
                                    "exception": "TimeoutError", "message": f"ran over {per_step:g} s"}
                except BaseException as e:
                    missing = _missing_package(e)
                    if missing:
                        res["skipped"] = f"needs the package `{missing}`: it is not installed"
                        for n in step["defines"]:
                            skipped_names[n] = res["skipped"]
                    else:
                        res["error"] = error_answer(e)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            res["stdout"] = out.getvalue()[:MAX_STDOUT]
    finally:
        signal.signal(signal.SIGALRM, old)
    return results


def _fingerprint(res: dict[str, Any]) -> str:
    value = res.get("value") or {}
    error = res.get("error") or {}
    return json.dumps([res.get("stdout"), value.get("text"), error.get("text")])


def run_session(job: dict[str, Any], torch: Any, describe: Callable[[Any], dict[str, Any]],
                error_answer: Callable[[BaseException], dict[str, Any]],
                seed_all: Callable[[int, bool], None]) -> dict[str, Any]:
    """Run the job's steps in order, twice (two seeds, side by side); per-step results."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the second child
        code = 0
        try:
            os.close(r)
            tmp = tempfile.mkdtemp(prefix="tnquiz-note-")
            os.chdir(tmp)
            second = _run(job, int(job["seed"]) + 1, torch, describe, error_answer, seed_all)
            os.chdir("/")
            shutil.rmtree(tmp, ignore_errors=True)
            data = json.dumps(second).encode()
            view = memoryview(data)
            while view:
                view = view[os.write(w, view):]
        except BaseException:
            code = 70
        finally:
            os._exit(code)
    os.close(w)
    mine = _run(job, int(job["seed"]), torch, describe, error_answer, seed_all)
    chunks = []
    while chunk := os.read(r, 1 << 16):
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    other: list[dict[str, Any]] | None
    try:
        other = json.loads(b"".join(chunks))
    except ValueError:
        other = None
    for i, res in enumerate(mine):
        res["random"] = other is not None and _fingerprint(res) != _fingerprint(other[i])
    return {"steps": mine, "torch_version": torch.__version__}
