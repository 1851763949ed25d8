"""The result cache: content-addressed on what determines an answer, and nothing else.

The key hashes the card's runnable content (setup, code, answer spec, choices, seed), the device it
runs on, the torch, Python and required packages' versions and the format version. Prose (question, explain, tags,
source, expect) is not in the key, so editing it re-runs nothing. Only real results are stored: a
card whose code raised is a result, and so is a required package that is installed but cannot be
imported (its version is in the key); a timeout, a crash or a missing GPU is not.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import sys
from functools import lru_cache
from pathlib import Path

from generator import atomic
from generator.execute.messages import parse_result
from generator.model import FORMAT_VERSION, Card, RunResult


@lru_cache(maxsize=8)
def package_version(name: str) -> str | None:
    """An installed package's version, read without importing it (torch alone costs ~1.5 s).

    ``torch/version.py``, ``torchvision/version.py`` and ``numpy/version.py`` hold the version as
    ``__version__ = '...'`` (or ``version = ...``); reading that beats a metadata lookup, which scans
    every installed distribution. None when the package is not installed.
    """
    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    for folder in spec.submodule_search_locations or ():
        with contextlib.suppress(OSError):
            text = (Path(folder) / "version.py").read_text(encoding="utf-8")
            m = re.search(r"^(?:__version__|version)\s*(?::\s*str\s*)?=\s*['\"]([^'\"]+)['\"]", text, re.M)
            if m:
                return m.group(1)
    from importlib import metadata  # slow (scans every distribution): only as a fallback

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def torch_version() -> str:
    return package_version("torch") or "not installed"


def default_dir() -> Path:
    env = os.environ.get("TNQUIZ_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("tnquiz"))


#: Bumped whenever the worker would give a different result for the same card (how values are
#: described, messages cleaned, the namespace cards run in).
RESULTS_VERSION = 3


def key(card: Card, device: str) -> str:
    payload = {
        "format": FORMAT_VERSION,
        "results": RESULTS_VERSION,
        "run": card.run_spec(),
        "requires": sorted(card.requires),
        # an optional package's version decides whether the card can run at all
        "packages": {r: package_version(r) for r in sorted(card.requires) if r != "cuda"},
        "device": device,
        "torch": torch_version(),
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class Cache:
    def __init__(self, root: Path | None = None, *, enabled: bool = True) -> None:
        self.root = root if root is not None else default_dir()
        self.enabled = enabled
        # results read or written through this object: a key names what determines its result, so
        # a hit stays right for the object's life (a build may look a card up twice)
        self._hits: dict[str, RunResult] = {}

    def _path(self, k: str) -> Path:
        return self.root / "results" / k[:2] / f"{k}.json"

    def get(self, k: str) -> RunResult | None:
        if not self.enabled:
            return None
        if (hit := self._hits.get(k)) is not None:
            return hit
        try:
            data = json.loads(self._path(k).read_bytes())
        except (OSError, ValueError, RecursionError):
            return None  # missing or unreadable: run again
        if not isinstance(data, dict):
            return None
        try:
            result = parse_result(data.get("result"))
        except (ValueError, RecursionError):
            return None  # the wrong shape (written by anything but us): never trusted, run again
        self._hits[k] = result
        return result

    def put(self, k: str, card_id: str, result: RunResult) -> None:
        if not self.enabled:
            return
        blob = json.dumps({"id": card_id, "result": result.to_dict()}, sort_keys=True)
        # atomic: concurrent builds never see half an entry; not fsynced (5 ms a card): an entry a
        # power loss damaged fails validation in `get` and the card simply runs again
        atomic.write_text(self._path(k), blob, durable=False)
        self._hits[k] = result

    def stats(self) -> tuple[int, int]:
        """(entries, bytes)."""
        n = size = 0
        for p in (self.root / "results").rglob("*.json"):
            n += 1
            size += p.stat().st_size
        return n, size

    def clear(self) -> int:
        self._hits.clear()
        n, _ = self.stats() if self.root.exists() else (0, 0)
        shutil.rmtree(self.root / "results", ignore_errors=True)
        return n
