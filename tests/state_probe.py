"""Run each snippet given (JSON list on stdin) in a forked child of a torch process and print, as
JSON, the parts of ``generator.execute.state.fingerprint()`` that changed (used by test_state.py)."""

from __future__ import annotations

import json
import os
import sys
import tempfile

import torch
import torch.nn
import torch.nn.functional

from generator.execute import state


def main() -> None:
    snippets = json.load(sys.stdin)
    torch.set_num_threads(1)
    results = []
    for code in snippets:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                os.chdir(tempfile.mkdtemp(prefix="tnquiz-state-test-"))
                before = state.fingerprint()
                again = state.changed(before, state.fingerprint())
                ns = {"torch": torch, "nn": torch.nn, "F": torch.nn.functional}  # alive while compared
                exec(compile(code, "<card>", "exec"), ns)
                out = json.dumps({"stable": again, "changed": state.changed(before, state.fingerprint())})
                os.write(w, out.encode())
            finally:
                os._exit(0)
        os.close(w)
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
        os.close(r)
        os.waitpid(pid, 0)
        results.append(json.loads(data))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
