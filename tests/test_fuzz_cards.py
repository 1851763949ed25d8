"""Seeded mutations of real card files: the loader never raises, never hangs, locates every problem.

Hundreds of mutants (deleted, duplicated, swapped and re-indented lines, a wrong type in every field,
bad encodings, aliases, tags, truncation) go through ``load`` directly; a sample goes through the
real ``check`` and ``build`` commands.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from generator.fields import FIELDS, ID_RE, MAX_SEED, MAX_TIMEOUT
from generator.load import load
from tests.conftest import ROOT, Built, run_tnquiz

BASES = ("tensors-random.yaml", "meshgrid.yaml", "nn-cifar10-model.yaml", "nn-containers.yaml")
SEED = 20261201

WRONG_VALUES = (
    "[1, 2]", "{a: 1}", "true", "false", "0", "-1", "4294967296", ".inf", "-.inf", ".nan", "1e400",
    "99999999999999999999999", '"abc\\n"', "''", "null", "~", "!!int notanumber", "!!float x",
    "!!python/name:os.system x", "!!python/object/apply:os.system ['true']", "!!binary aGk=", "!!set {a}",
    "!foo bar", "*undefined", "&r [*r]", "[[[[[[]]]]]]", "2024-01-01", '"\\x00"', '"a\\u0007b"', "[x[:, 0].shape]",
    "What is a: b?", "|\n      x = (\n", "[a: b]", "? [a, b]",
)

BOMB = b"".join(b"    z%d: &l%d [%s]\n" % (i, i, b", ".join([b"*l%d" % (i - 1)] * 10)) for i in range(1, 9))

Mutation = Callable[[list[bytes], random.Random], bytes]


def _join(lines: list[bytes]) -> bytes:
    return b"".join(lines)


def delete_line(lines: list[bytes], rng: random.Random) -> bytes:
    del lines[rng.randrange(len(lines))]
    return _join(lines)


def duplicate_line(lines: list[bytes], rng: random.Random) -> bytes:
    i = rng.randrange(len(lines))
    lines.insert(i, lines[i])
    return _join(lines)


def swap_lines(lines: list[bytes], rng: random.Random) -> bytes:
    i = rng.randrange(len(lines) - 1)
    lines[i], lines[i + 1] = lines[i + 1], lines[i]
    return _join(lines)


def reindent(lines: list[bytes], rng: random.Random) -> bytes:
    i = rng.randrange(len(lines))
    stripped = lines[i].lstrip(b" ")
    indent = len(lines[i]) - len(stripped)
    lines[i] = rng.choice([b" " * max(indent + d, 0) for d in (-2, -1, 1, 2)] + [b"\t", b" \t"]) + stripped
    return _join(lines)


def wrong_type(lines: list[bytes], rng: random.Random) -> bytes:
    """A wrong value in one card field (every field of the table is drawn), replaced or added."""
    name = rng.choice([f.name for f in FIELDS])
    value = rng.choice(WRONG_VALUES).encode()
    at = [i for i, line in enumerate(lines) if line.startswith(b"    " + name.encode() + b":")]
    if at:
        lines[rng.choice(at)] = b"    " + name.encode() + b": " + value + b"\n"
    else:
        starts = [i for i, line in enumerate(lines) if line.startswith(b"  - id:")] or [0]
        lines.insert(rng.choice(starts) + 1, b"    " + name.encode() + b": " + value + b"\n")
    return _join(lines)


def bad_bytes(lines: list[bytes], rng: random.Random) -> bytes:
    data = _join(lines)
    kind = rng.randrange(6)
    if kind == 0:
        return data.decode("utf-8", "replace").encode(rng.choice(["utf-16", "utf-16-le", "utf-32", "latin-1"]), "replace")
    if kind == 1:
        return b"\xef\xbb\xbf" + data
    i = rng.randrange(len(data) + 1)
    junk = rng.choice([b"\xff", b"\xc3", b"\x00", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\x1b[2J"])
    return data[:i] + junk + data[i:]


def aliases(lines: list[bytes], rng: random.Random) -> bytes:
    starts = [i for i, line in enumerate(lines) if line.startswith(b"  - id:")] or [0]
    i = rng.choice(starts) + 1
    lines[i:i] = [rng.choice([
        b"    expect: &l0 [a, a, a, a, a, a, a, a, a, a]\n" + BOMB,
        b"    expect: *nowhere\n",
        b"    tags: &t [*t]\n",
        b"    <<: {seed: 1}\n",
        b"    setup: &s x = 1\n    code: *s\n",
    ])]
    return _join(lines)


def truncate(lines: list[bytes], rng: random.Random) -> bytes:
    data = _join(lines)
    return data[: rng.randrange(len(data) + 1)]


def file_level(lines: list[bytes], rng: random.Random) -> bytes:
    return rng.choice([
        b"", b"- a\n- b\n", b"just text\n", b"deck: D\n---\n" + _join(lines), _join(lines) + b"cards: []\n",
        _join(lines) + b"deck: Other\n", b"[" * 3000 + b"]" * 3000, _join(lines).replace(b"cards:", b"cards: !!set", 1),
    ])


MUTATIONS: tuple[Mutation, ...] = (delete_line, duplicate_line, swap_lines, reindent, wrong_type, wrong_type,
                                   wrong_type, bad_bytes, aliases, truncate, file_level)


def mutants(count: int, seed: int, bases: tuple[str, ...] = BASES) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    texts = {name: (ROOT / "cards" / name).read_bytes() for name in bases}
    out = []
    for n in range(count):
        name = bases[n % len(bases)]
        lines = texts[name].splitlines(keepends=True)
        mutate = rng.choice(MUTATIONS)
        data = mutate(lines, rng)
        if rng.random() < 0.3:  # a second mutation on top
            data = rng.choice(MUTATIONS)([*data.splitlines(keepends=True), b"\n", b"\n"], rng)
        out.append((f"{n:03d}-{mutate.__name__}-{name}", data))
    return out


def assert_sound(path: Path, shown: str) -> list[str]:
    """Load ``path``: no exception, bounded time, located problems, and only valid cards out."""
    start = time.perf_counter()
    result = load([path])
    assert time.perf_counter() - start < 5, f"{shown}: loading took {time.perf_counter() - start:.1f} s"
    located = re.compile(re.escape(str(path)) + r":[1-9]\d*(?: \[[^\]\n]+\])?: \S")
    problems = [str(p) for p in result.problems]
    for p in problems:
        assert located.match(p), f"{shown}: not located: {p!r}"
        assert p.isprintable(), f"{shown}: a control character would reach the terminal: {p!r}"
    for c in result.cards:
        assert ID_RE.fullmatch(c.id) and 0 <= c.seed <= MAX_SEED and 0 < c.timeout <= MAX_TIMEOUT, (shown, c)
        assert math.isfinite(c.timeout) and (c.answer, c.raises, c.output).count(None) + (not c.output) >= 2
        json.dumps(c.to_dict(), allow_nan=False).encode("utf-8")  # every value can be written to cards.json
    return problems


def test_hundreds_of_mutants_load_soundly(tmp_path: Path) -> None:
    all_problems = 0
    for name, data in mutants(400, SEED):
        p = tmp_path / f"{name}"
        p.write_bytes(data)
        all_problems += bool(assert_sound(p, name))
    assert all_problems > 250  # the mutations do break files: the checks above were exercised


@pytest.mark.slow
def test_a_sample_of_mutants_through_check_and_build(bundled_deck: Built, tmp_path: Path) -> None:
    # Results of the unchanged cards are cached first (bundled_deck ran them into its cache), so a
    # mutant runs only the cards it changed.
    env = {"TNQUIZ_CACHE_DIR": str(bundled_deck.cache)}
    assert run_tnquiz("check", str(ROOT / "cards" / "tensors-random.yaml"), env=env, timeout=300).returncode == 0
    runs = []
    for name, data in mutants(25, SEED + 1, ("tensors-random.yaml",)):
        p = tmp_path / name
        p.write_bytes(data)
        problems = assert_sound(p, name)
        # Nothing to run: 30 s is a hang. A mutant with cards to run gets time for a worker to start.
        limit = 30 if not load([p]).cards else 300
        runs += [(name, problems, limit, ["check", str(p)]),
                 (name, problems, limit, ["build", str(p), "--out", str(tmp_path / f"out-{name}")])]
    with ThreadPoolExecutor(4) as pool:  # the commands mostly wait on interpreter start-up and workers
        done = list(pool.map(lambda r: run_tnquiz(*r[3], env=env, timeout=r[2]), runs))
    for (name, problems, _, command), result in zip(runs, done, strict=True):
        output = result.stdout + result.stderr
        assert "Traceback" not in output, f"{name}: {command[0]}:\n{output}"
        for problem in problems:
            assert problem in output, f"{name}: {command[0]} did not report {problem!r}:\n{output}"
        for line in result.stderr.splitlines():
            if line.startswith("error: "):
                assert re.match(r"error: \S+:\d+", line), f"{name}: {command[0]}: {line!r}"
        if problems:
            # Input errors exit 2 (and `build` writes nothing).
            assert result.returncode == 2, f"{name}: {command[0]} exited {result.returncode} with problems:\n{output}"
