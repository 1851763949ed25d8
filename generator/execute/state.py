"""A fingerprint of the process state a card could leave behind (runs inside the worker's children).

A child that is reused for several pure cards (``docs/isolation.md``) takes ``fingerprint()`` once
before its first card and compares it after each card; ``changed(before, after)`` names every part
that differs, and the child is then thrown away (the card's own result stands: it ran from a clean
state). This module does not import torch: it reads the torch (and numpy) already loaded in the
process, from ``sys.modules``.

The parts: torch's modes and settings (default dtype and device, grad/inference/anomaly modes,
deterministic algorithms, print options, threads, matmul precision, autocast, function/dispatch
modes, backend flags), numpy's error and print settings, the Python process (cwd and its files,
umask, ``sys.path``/``meta_path``/``path_hooks``, the names in ``sys.modules``, ``os.environ``, warning
filters, hooks in ``sys``, recursion limit, ``gc`` settings and callbacks, locale, signal handlers
and mask, pending timers and alarms, open file descriptors, live threads and child processes), and
the identity of every attribute of ``torch``, ``torch.nn``, ``torch.nn.functional``,
``torch.Tensor``, ``torch.nn.Module`` and the other objects in ``WATCHED`` (plus, for the modules in
``HOOKS``, the size of each dict/list/set they hold: a hook registered in a module-level dict
changes it).

What it cannot see (a function's ``__defaults__`` changed in place, a C++ warn-once flag consumed)
is what the static check (``generator.execute.purity``) keeps out of reused children.
"""

from __future__ import annotations

import _signal
import functools
import gc
import locale
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

#: Objects whose attributes are fingerprinted by identity (dotted paths from ``sys.modules``).
WATCHED = (
    "torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.nn.modules.module",
    "torch.Tensor", "torch._C.TensorBase", "torch.nn.Module", "torch.nn.Parameter", "torch.autograd",
    "torch.autograd.grad_mode", "torch.autograd.graph", "torch.linalg", "torch.fft", "torch.special",
    "torch.random", "torch.serialization", "torch._tensor_str", "torch.utils.data",
    "torch.utils.data.dataloader", "torch.optim", "torch.optim.optimizer", "torch.nn.utils",
    "torch.overrides", "torch.functional", "torch.types", "torch.cpu", "builtins", "math", "random", "numpy",
    "numpy.random", "copyreg", "pickle", "io", "functools",
)

#: Modules whose module-level dicts, lists and sets (hook registries) are also compared by size.
HOOKS = frozenset({"torch.nn.modules.module", "torch.autograd.graph", "torch.utils.data.dataloader",
                   "torch.optim.optimizer", "torch.serialization", "torch.overrides", "copyreg",
                   "torch.nn.utils"})

_SIGNALS = tuple(int(s) for s in signal.Signals if s not in (signal.SIGKILL, signal.SIGSTOP))
# the C function: ``signal.getsignal`` converts each answer to an enum member (ten times slower)
_getsignal = getattr(_signal, "getsignal", signal.getsignal)


def _resolve(path: str) -> Any:
    for n in range(path.count(".") + 1, 0, -1):  # longest loaded module prefix, then attributes
        name = ".".join(path.split(".")[:n])
        obj = sys.modules.get(name)
        if obj is not None:
            for attr in path.split(".")[n:]:
                obj = getattr(obj, attr, None)
            return obj
    return None


def _namespace(obj: Any, containers: tuple[Any, ...]) -> tuple[Any, ...]:
    """The names and the objects themselves (compared by identity first: cheap when nothing
    changed), and the sizes of ``containers`` (its hook registries: a hook added changes one)."""
    d = getattr(obj, "__dict__", None)
    if d is None:
        return ()
    return (tuple(d), tuple(d.values()), tuple(map(len, containers)))


def _registries(obj: Any) -> tuple[Any, ...]:
    """The dicts, lists and sets an object holds as attributes now (one replaced later changes the
    object's namespace; one changed in place changes its size)."""
    d = getattr(obj, "__dict__", None) or {}
    return tuple(v for v in d.values() if isinstance(v, (dict, list, set)))


def _torch() -> dict[str, Callable[[], Any]]:
    torch = sys.modules.get("torch")
    if torch is None:
        return {}
    parts: dict[str, Callable[[], Any]] = {
        "torch default dtype": torch.get_default_dtype,
        "torch grad mode": torch.is_grad_enabled,
        "torch inference mode": torch.is_inference_mode_enabled,
        "torch anomaly mode": lambda: (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()),
        "torch deterministic algorithms": lambda: (torch.are_deterministic_algorithms_enabled(),
                                                   torch.is_deterministic_algorithms_warn_only_enabled()),
        "torch print options": lambda: tuple(sorted(vars(torch._tensor_str.PRINT_OPTS).items())),
        "torch threads": lambda: (torch.get_num_threads(), torch.get_num_interop_threads()),
        "torch matmul precision": torch.get_float32_matmul_precision,
        "torch warn always": torch.is_warn_always_enabled,
        "torch autocast": lambda: torch.is_autocast_enabled("cpu"),
        "torch modes": lambda: (torch._C._len_torch_function_stack(), torch._C._len_torch_dispatch_stack(),
                                torch._C._is_torch_function_enabled()),
        "torch backend flags": lambda: (torch._C._get_cudnn_enabled(), torch._C._get_cudnn_benchmark(),
                                        torch._C._get_cudnn_deterministic(), torch._C._get_mkldnn_enabled(),
                                        torch._C._get_cublas_allow_tf32()),
    }
    if hasattr(torch, "get_default_device"):
        parts["torch default device"] = lambda: str(torch.get_default_device())
    return parts


def _numpy() -> dict[str, Callable[[], Any]]:
    np = sys.modules.get("numpy")
    if np is None:
        return {}
    return {"numpy settings": lambda: (tuple(sorted(np.geterr().items())), np.getbufsize(),
                                       tuple(sorted((k, repr(v)) for k, v in np.get_printoptions().items())))}


def _umask() -> int:
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


def _listdir(path: str) -> tuple[str, ...]:
    try:
        return tuple(sorted(os.listdir(path)))
    except OSError:
        return ()


def _children() -> bool:
    """Whether this process has a child, live or exited (one ``waitid`` that reaps nothing)."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def _environ() -> Any:
    """The environment as the process holds it (``os.environ``'s own mapping, not decoded)."""
    data = getattr(os.environ, "_data", None)
    return dict(data) if isinstance(data, dict) else tuple(sorted(os.environ.items()))


def _modules() -> tuple[str, ...]:
    return tuple(sys.modules)  # the names: each card gets a new `__main__` under the same one


def _python() -> dict[str, Callable[[], Any]]:
    return {
        "working directory": os.getcwd,
        "files in the working directory": lambda: _listdir("."),
        "umask": _umask,
        "sys.path": lambda: tuple(sys.path),
        "import hooks": lambda: (tuple(map(id, sys.meta_path)), tuple(map(id, sys.path_hooks)),
                                 len(sys.path_importer_cache)),
        "sys.modules": _modules,
        "os.environ": _environ,
        "warning filters": lambda: (tuple(warnings.filters), id(warnings.showwarning),
                                    id(warnings.formatwarning)),
        "sys hooks": lambda: (id(sys.excepthook), id(sys.displayhook), id(sys.unraisablehook),
                              id(sys.breakpointhook), sys.gettrace(), sys.getprofile(),
                              id(sys.stdin), id(sys.stdout), id(sys.stderr)),
        "threading hooks": lambda: (id(threading.excepthook), getattr(threading, "gettrace", lambda: None)(),
                                    getattr(threading, "getprofile", lambda: None)()),
        "interpreter limits": lambda: (sys.getrecursionlimit(), sys.getswitchinterval(),
                                       getattr(sys, "get_int_max_str_digits", lambda: 0)()),
        "gc": lambda: (gc.isenabled(), gc.get_threshold(), tuple(map(id, gc.callbacks)), gc.get_debug()),
        "locale": lambda: locale.setlocale(locale.LC_ALL),
        "signal handlers": lambda: tuple(id(_getsignal(s)) for s in _SIGNALS),
        "signal mask": lambda: tuple(sorted(signal.pthread_sigmask(signal.SIG_BLOCK, ()))),
        "pending timers": lambda: tuple(signal.getitimer(t) != (0.0, 0.0) for t in
                                        (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF)),
        "open files": lambda: _listdir("/proc/self/fd"),
        "threads": lambda: (tuple(t.ident for t in threading.enumerate()), len(_listdir("/proc/self/task"))),
        "child processes": _children,
    }


@functools.lru_cache(maxsize=1)
def _parts() -> dict[str, Callable[[], Any]]:
    """What to read, decided once per process (a child takes its first fingerprint before its first
    card): the watched objects as they are then; a module loaded later changes ``sys.modules``."""
    parts = {**_torch(), **_numpy(), **_python()}
    for path in WATCHED:
        obj = _resolve(path)
        if obj is not None:
            parts[f"attributes of {path}"] = functools.partial(
                _namespace, obj, _registries(obj) if path in HOOKS else ())
    return parts


def fingerprint() -> dict[str, Any]:
    """The state of this process, part by part (a part that cannot be read records the error)."""
    out: dict[str, Any] = {}
    for name, read in _parts().items():
        try:
            out[name] = read()
        except Exception as e:  # an unreadable part is itself a state to compare
            out[name] = ("unreadable", type(e).__name__)
    return out


def changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The names of the parts that differ (empty: the process is as it was)."""
    return [name for name in sorted(before.keys() | after.keys())
            if not _same(before.get(name, _MISSING), after.get(name, _MISSING))]


def _same(a: Any, b: Any) -> bool:
    """Equal, objects compared by identity first; anything that cannot be compared counts as changed."""
    try:
        return bool(a == b)
    except Exception:
        return False


_MISSING = object()
