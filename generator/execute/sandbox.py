"""The worker's environment and, where the platform has one, its sandbox (bubblewrap).

Each worker process (not each card: the per-card cost does not change) is started as
``bwrap ... python -m generator.execute.worker``: the whole file system read-only, an empty
private ``/tmp`` and HOME, the result cache hidden, writable only the worker's own temporary root
(the cards' working folders), no network, its own PID namespace (nothing a card starts outlives the
worker), killed with tnquiz. The environment is an allowlist in every case, sandbox or not.

``TNQUIZ_SANDBOX=0`` turns the sandbox off. Where bubblewrap is missing or cannot start (some
containers forbid the namespaces it needs), cards run unsandboxed and the build says so once.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

NO_SANDBOX_WARNING = ("warning: no sandbox: bubblewrap (bwrap) is missing or cannot run here, so cards run "
                      "with your own access to files and the network (see README: Running other people's decks)")
SANDBOX_OFF_WARNING = "warning: TNQUIZ_SANDBOX=0: cards run without a sandbox"

#: Environment variables a worker keeps (everything else, tokens included, is dropped).
ENV_KEEP = ("PATH", "LANG", "LANGUAGE", "TZ", "TNQUIZ_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "OPENBLAS_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH", "PYTHONHASHSEED")

_PKG_ROOT = str(Path(__file__).resolve().parents[2])

PR_SET_PDEATHSIG, PR_GET_DUMPABLE, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 1, 3, 4, 36


def prctl(option: int, value: int = 0) -> int:
    """Linux's prctl(2); -1 where there is none (elsewhere these protections are simply absent)."""
    if not sys.platform.startswith("linux"):
        return -1
    import ctypes

    try:
        return int(ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0))
    except (OSError, AttributeError):
        return -1


@contextlib.contextmanager
def not_inspectable() -> Iterator[None]:
    """While cards run, this process is not dumpable: a card running as the same user (without the
    sandbox) cannot open ``/proc/<tnquiz>/fd`` (the protocol pipes) or ``/proc/<tnquiz>/mem``."""
    before = prctl(PR_GET_DUMPABLE)
    if before == 1:
        prctl(PR_SET_DUMPABLE, 0)
    try:
        yield
    finally:
        if before == 1:
            prctl(PR_SET_DUMPABLE, 1)


def worker_env(tmp_root: str) -> dict[str, str]:
    """The scrubbed environment of a worker whose temporary root is ``tmp_root``."""
    env = {k: v for k, v in os.environ.items() if k in ENV_KEEP or k.startswith("LC_")}
    pythonpath = os.environ.get("PYTHONPATH")
    env["PYTHONPATH"] = _PKG_ROOT + (os.pathsep + pythonpath if pythonpath else "")
    env["TMPDIR"] = tmp_root
    env["HOME"] = os.path.expanduser("~")  # an empty folder inside the sandbox
    env.setdefault("PATH", os.defpath)
    return env


@dataclass(frozen=True)
class Sandbox:
    """How to wrap a worker command in bubblewrap."""

    bwrap: str
    hidden: tuple[str, ...] = ()  # folders made empty inside (the result cache)

    def wrap(self, argv: Sequence[str], tmp_root: str) -> list[str]:
        home = os.path.expanduser("~")
        args = [self.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                "--tmpfs", "/tmp", "--tmpfs", "/dev/shm", "--tmpfs", "/run"]
        if home not in ("/", "") and os.path.isdir(home):
            args += ["--tmpfs", home]
        for folder in self.hidden:
            if os.path.isdir(folder):
                args += ["--tmpfs", folder]
        # what the interpreter itself needs, when it lives in a folder hidden above
        for path in _python_paths():
            if _under(path, [home, "/tmp", "/run", *self.hidden]):
                args += ["--ro-bind", path, path]
        for dev in sorted(glob.glob("/dev/nvidia*")):  # a CUDA card needs the GPU's device files
            args += ["--dev-bind", dev, dev]
        args += ["--bind", tmp_root, tmp_root, "--chdir", tmp_root,
                 "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                 # run as root, bwrap would keep every capability: a card could remount / read-write
                 "--cap-drop", "ALL",
                 "--die-with-parent", "--new-session", "--", *argv]
        return args


def _under(path: str, folders: Sequence[str]) -> bool:
    return any(f not in ("", "/") and (path == f or path.startswith(f.rstrip("/") + "/")) for f in folders)


def _python_paths() -> list[str]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, _PKG_ROOT,
             os.path.dirname(os.path.realpath(sys.executable)),
             *(p for p in sys.path if p and os.path.isdir(p))}
    return sorted(os.path.realpath(p) for p in paths if p and os.path.isdir(p))


@functools.lru_cache(maxsize=4)
def _works(box: Sandbox) -> bool:
    """Whether bubblewrap starts here with the flags a worker gets (once per process)."""
    tmp = os.path.realpath(os.environ.get("TMPDIR") or "/tmp")
    try:
        proc = subprocess.run(box.wrap(["/bin/sh", "-c", "exit 0"], tmp), stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


def choose_sandbox(enabled: bool | None, hidden: Sequence[Path] = ()) -> tuple[Sandbox | None, str | None]:
    """The sandbox to run workers in (None: none) and the one warning line to show, if any.

    ``enabled``: True/False force it; None follows ``TNQUIZ_SANDBOX`` (on unless ``0``).
    """
    if enabled is False:
        return None, None
    if enabled is None and os.environ.get("TNQUIZ_SANDBOX", "").strip() == "0":
        return None, SANDBOX_OFF_WARNING
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return None, NO_SANDBOX_WARNING
    box = Sandbox(bwrap, tuple(os.path.realpath(p) for p in hidden))
    if not _works(box):
        return None, NO_SANDBOX_WARNING
    return box, None
