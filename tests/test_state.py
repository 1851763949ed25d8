"""The process-state fingerprint a reused child compares after each card (generator/execute/state.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# snippet -> a part of the fingerprint that must report it
POLLUTERS = {
    "torch.set_default_dtype(torch.float64)": "torch default dtype",
    "torch.set_default_device('meta')": "torch default device",
    "torch.set_grad_enabled(False)": "torch grad mode",
    "global g; g = torch.inference_mode(); g.__enter__()": "torch inference mode",
    "torch.autograd.set_detect_anomaly(True)": "torch anomaly mode",
    "torch.use_deterministic_algorithms(True)": "torch deterministic algorithms",
    "torch.set_printoptions(precision=1)": "torch print options",
    "torch.set_num_threads(2)": "torch threads",
    "torch.set_float32_matmul_precision('medium')": "torch matmul precision",
    "torch.set_warn_always(True)": "torch warn always",
    "torch.backends.mkldnn.enabled = False": "torch backend flags",
    "torch.nn.Linear = None": "attributes of torch.nn",
    "F.relu = abs": "attributes of torch.nn.functional",
    "torch.Tensor.shout = lambda self: 1": "attributes of torch.Tensor",
    "torch.zeros = torch.ones": "attributes of torch",
    "nn.modules.module.register_module_forward_hook(lambda *a: None)": "attributes of torch.nn.modules.module",
    "import numpy; numpy.seterr(all='raise')": "numpy settings",
    "import os; os.chdir('/')": "working directory",
    "open('left.txt', 'w').close()": "files in the working directory",
    "import os; os.umask(0o77)": "umask",
    "import sys; sys.path.append('/nowhere')": "sys.path",
    "import tabnanny": "sys.modules",
    "import os; os.environ['TNQUIZ_POLLUTED'] = '1'": "os.environ",
    "import warnings; warnings.simplefilter('error')": "warning filters",
    "import sys; sys.excepthook = print": "sys hooks",
    "import sys; sys.setrecursionlimit(500)": "interpreter limits",
    "import gc; gc.disable()": "gc",
    "import gc; gc.callbacks.append(print)": "gc",
    "import signal; signal.signal(signal.SIGUSR1, lambda *a: None)": "signal handlers",
    "import signal; signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])": "signal mask",
    "import signal; signal.alarm(100)": "pending timers",
    "import os; global fd; fd = os.open('/dev/null', os.O_RDONLY)": "open files",
    "import threading, time; threading.Thread(target=time.sleep, args=(5,), daemon=True).start()": "threads",
    "import subprocess; global p; p = subprocess.Popen(['sleep', '5'])": "child processes",
    "import builtins; builtins.print = len": "attributes of builtins",
    "import math; math.pi = 3": "attributes of math",
}

HARMLESS = [
    "a = torch.zeros(2, 3); b = a.t().reshape(-1); repr(b)",
    "m = nn.Linear(3, 2); y = m(torch.ones(4, 3)).sum(); y.backward(); repr(m)",
    "with torch.no_grad():\n    x = torch.ones(2) * 2",
    "torch.manual_seed(3); torch.rand(2)",
]


def _probe(snippets: list[str]) -> list[dict[str, list[str]]]:
    here = Path(__file__).parent
    proc = subprocess.run([sys.executable, str(here / "state_probe.py")], input=json.dumps(snippets),
                          capture_output=True, text=True, timeout=240, cwd=here.parent)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_fingerprint_sees_every_kind_of_state() -> None:
    snippets = list(POLLUTERS) + HARMLESS
    results = _probe(snippets)
    missed = {}
    for code, res in zip(snippets, results, strict=True):
        assert res["stable"] == [], f"two fingerprints in a row differ: {res['stable']}"
        if code in POLLUTERS and POLLUTERS[code] not in res["changed"]:
            missed[code] = res["changed"]
    assert not missed, missed
    for code, res in zip(HARMLESS, results[len(POLLUTERS):], strict=True):
        # a first use of torch may load a module lazily: that is the only change allowed here
        assert set(res["changed"]) <= {"sys.modules"}, (code, res["changed"])
