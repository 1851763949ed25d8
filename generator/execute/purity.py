"""Which cards may share a process: a static check of a card's code (stage 2, torch-free).

A card is *pure* when its snippets (``setup``, ``code``, ``answer``, ``choices``; for an exercise also
its ``solution`` and ``variants``, which its build runs) can neither change
process-wide state that a later card could see, nor read process-wide state that an earlier card
could have changed. Only pure cards run one after another in a reused child process (see
``docs/isolation.md``); anything else runs in a fresh child, as every card does with
``--isolation fork``. The check is conservative: whatever it cannot prove harmless makes the card
impure. After each card a reused child also compares a fingerprint of process state
(``generator.execute.state``) and is thrown away on any change; neither check alone is trusted.

``impurity(card)`` gives the first reason a card is impure (``None``: pure). The rules, in order:

1. the card runs on a device other than ``cpu``, or ``requires`` something other than ``numpy`` (a
   CUDA context, or a module imported for it, would outlive the card);
2. a snippet does not parse (it fails alone, in its own child), imports a module other than those
   in ``SAFE_MODULES`` (``torch``, ``numpy``, ``math``, ``collections``, ``itertools``, ...), or a
   private name, ``*``, a setter or an area of rules 5 and 6 from one; holds ``global``, or a
   ``class`` with keywords (``metaclass=``);
3. it names a builtin that reaches process state or other objects by name: ``eval``, ``exec``,
   ``compile``, ``globals``, ``locals``, ``vars``, ``getattr``, ``setattr``, ``delattr``,
   ``__import__``, ``open``, ``input``, ``breakpoint``, ``exit``, ``quit``, ``help``,
   ``__builtins__`` ... (``BUILTINS`` below);
4. it uses a dunder attribute other than ``__name__``, ``__qualname__``, ``__doc__``,
   ``__module__`` or ``super().__init__``, any private attribute (``torch._C``, ``x._foo``), or an
   attribute named like a module of process state or a frame's insides (``torch.serialization.os``,
   ``.sys``, ``.inspect``, ``.gc``, ``.f_locals``, ``.tb_frame``...: ``REACHES``), or defines
   ``__del__``, ``__new__``, ``__init_subclass__``, ``__set_name__``, ``__class_getitem__``;
5. it names a torch area with process-wide effects (``torch.backends``, ``torch.library``,
   ``torch.jit``, ``torch.compile``, ``torch.hub``, ``torch.multiprocessing``, ``torch.distributed``,
   ``torch.cuda``, ``torch.overrides``, ``torch.profiler``, ``torch.autograd.profiler``,
   ``torch.utils.cpp_extension``, ``torch.fx``, ``torch.export``, ``torch.func``...: ``AREAS``);
6. it calls, on anything it did not create, a function whose name sets or registers something
   (``set_*``, ``use_*``, ``enable_*``, ``disable_*``, ``register_*``, ``add_safe_globals``, ...)
   except as the expression of a ``with`` item (``with torch.set_grad_enabled(False):`` restores the
   mode on exit), or a method that mutates a container (``append``, ``update``, ``pop``, ...);
   ``torch.manual_seed`` and ``torch.seed`` are allowed: every card is seeded again before it runs;
7. it passes ``num_workers`` other than a literal ``0`` (a DataLoader's worker processes and its
   ``SIGCHLD`` handler);
8. it assigns or deletes an attribute or item of anything it did not create: the target must be
   ``name.attr`` or ``name[...]`` (one level) where every binding of ``name`` in the card is a
   constant, an arithmetic result, a list/dict/set/tuple display of such values, a comprehension,
   a ``def``/``class``/``lambda`` of the card, or a call of something other than a method of
   another name, a card function, or one of ``iter``, ``next``, ``type``, ``super``, ``max``,
   ``min``, ``sorted``, ``reversed``, ``enumerate``, ``zip``, ``map``, ``filter`` (which hand back
   objects that exist already); ``self`` in a method of a card class counts as created. Names
   tnquiz provides (``torch``, ``nn``, ``F``, ``device``) and builtins are never created by the card.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Iterable, Iterator

from generator.model import Card

PROVIDED = frozenset({"torch", "nn", "F", "device"})

BUILTINS = frozenset({
    "eval", "exec", "compile", "globals", "locals", "vars", "getattr", "setattr", "delattr",
    "__import__", "open", "input", "breakpoint", "exit", "quit", "help", "__builtins__",
    "copyright", "credits", "license", "__loader__", "__spec__", "__build_class__",
})

DUNDER_READS = frozenset({"__name__", "__qualname__", "__doc__", "__module__"})
DUNDER_DEFS_DENIED = frozenset({"__del__", "__new__", "__init_subclass__", "__set_name__",
                                "__class_getitem__", "__getattribute__"})

AREAS = frozenset({
    "backends", "library", "jit", "compile", "hub", "multiprocessing", "distributed", "cuda", "mps",
    "xpu", "overrides", "profiler", "cpp_extension", "fx", "export", "func", "compiler", "ops",
    "classes", "package", "onnx", "quantization", "ao", "monitor", "futures", "dynamo",
    "utils.hooks", "utils.cpp_extension",
})

#: Attribute names that reach interpreter internals or whole modules of process state from any
#: object (``torch.serialization.os``, ``torch.overrides.inspect``, a frame's ``f_locals``).
REACHES = frozenset({
    "os", "sys", "inspect", "gc", "threading", "signal", "warnings", "subprocess", "ctypes", "io",
    "builtins", "importlib", "traceback", "weakref", "atexit", "types", "pickle", "shutil",
    "tempfile", "pathlib", "socket", "multiprocessing", "faulthandler", "resource", "locale",
    "logging", "random", "copyreg", "functools", "operator", "contextlib", "linecache", "abc",
    "f_locals", "f_globals", "f_back", "f_builtins", "f_code", "f_trace", "tb_frame", "tb_next",
    "gi_frame", "cr_frame", "ag_frame", "gi_code", "cr_code", "co_consts",
})
SETTER = re.compile(r"^(set_|use_|enable_|disable_|register_|unregister_|load_library|import_module"
                    r"|add_safe_globals|clear_safe_globals|allow_|seed_all|seterr|setbufsize)")
ALLOWED_SETTERS = frozenset({"manual_seed", "seed"})
MUTATORS = frozenset({"append", "extend", "insert", "pop", "popitem", "remove", "clear", "update",
                      "setdefault", "add", "discard", "sort", "reverse", "__setitem__",
                      "__delitem__", "difference_update", "intersection_update",
                      "symmetric_difference_update"})
PASS_THROUGH = frozenset({"iter", "next", "type", "super", "max", "min", "sorted", "reversed",
                          "enumerate", "zip", "map", "filter"})
#: modules a card may import: they hold no process state a card could change through them
#: (``torch`` and ``numpy`` only through the rules on their areas and setters). A module not yet
#: loaded changes ``sys.modules``, which the state check sees: that child is then replaced.
SAFE_MODULES = frozenset({"torch", "numpy", "math", "cmath", "itertools", "collections", "operator",
                          "string", "fractions", "dataclasses", "typing", "copy", "statistics",
                          "numbers", "functools", "enum", "textwrap", "json", "heapq", "bisect"})
HANDS_BACK = frozenset({"pop", "popitem", "get", "setdefault", "popleft"})
_BUILTIN_NAMES = frozenset(dir(builtins))
_GIVEN = PROVIDED | _BUILTIN_NAMES  # names a card finds bound before it runs


def impurity(card: Card) -> str | None:
    """Why ``card`` must run in a fresh process (``None``: it may share one with other pure cards)."""
    if card.device != "cpu":
        return f"it runs on device `{card.device}`"
    if set(card.requires) - {"numpy"}:  # the worker has numpy loaded already (torch imports it)
        return f"it requires {', '.join(card.requires)}"
    parts = [("setup", card.setup, "exec"), ("code", card.code, "exec")]
    if card.solution or card.variants:  # an exercise: the solution runs after the setup and each variant
        parts += [("solution", card.solution, "exec"), *(("variant", v, "exec") for v in card.variants)]
    if card.answer:
        parts.append(("answer", card.answer.strip(), "eval"))
    parts += [("choice", c.strip(), "eval") for c in card.choices]
    return impurity_of(parts)


def impurity_of(parts: Iterable[tuple[str, str, str]]) -> str | None:
    """The same check on snippets given as ``(part name, source, "exec" | "eval")``."""
    trees: list[tuple[str, ast.AST]] = []
    for name, source, mode in parts:
        if not source:
            continue
        try:
            trees.append((name, ast.parse(source, mode=mode)))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return f"its {name} does not parse"
    return _Check(trees).first()


class _Check:
    def __init__(self, trees: list[tuple[str, ast.AST]]) -> None:
        self.trees = trees
        self.classes: set[str] = set()
        self.functions: set[str] = set()
        self.selfs: set[int] = set()  # ids of the `self` argument nodes of card classes' methods
        # what the card binds each name to (a name the card is given, or a builtin, is also bound
        # to something the card did not create: see ``_created``)
        self.bindings: dict[str, list[ast.AST | None]] = {}
        self.with_calls: set[int] = set()
        self.nodes = {id(tree): list(ast.walk(tree)) for _, tree in trees}  # walked once, read twice
        for _, tree in trees:
            self._collect(tree)
        # names the card binds itself (`input = torch.ones(2)` is not the builtin)
        self.bound = set(self.bindings)

    # -- what the card binds -----------------------------------------------------------------
    def _bind(self, target: ast.AST, value: ast.AST | None) -> None:
        if isinstance(target, ast.Name):
            self.bindings.setdefault(target.id, []).append(value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            elts = value.elts if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts) else None
            for i, t in enumerate(target.elts):
                if isinstance(t, ast.Starred):
                    self._bind(t.value, None)
                elif elts is not None:
                    self._bind(t, elts[i])
                else:
                    self._bind(t, value if isinstance(value, ast.Call) else None)
        elif isinstance(target, ast.Starred):
            self._bind(target.value, None)

    def _collect(self, tree: ast.AST) -> None:
        for node in self.nodes[id(tree)]:
            if isinstance(node, ast.ClassDef):
                self.classes.add(node.name)
                self.bindings.setdefault(node.name, []).append(node)
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        args = item.args.posonlyargs + item.args.args
                        if args and not any(_is_name(d, "staticmethod") for d in item.decorator_list):
                            self.selfs.add(id(args[0]))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions.add(node.name)
                self.bindings.setdefault(node.name, []).append(node)
            elif isinstance(node, ast.Lambda):
                pass
            elif isinstance(node, ast.Assign):
                for t in node.targets:
                    self._bind(t, node.value)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                self._bind(node.target, node.value if isinstance(node, ast.AnnAssign) else None)
            elif isinstance(node, ast.NamedExpr):
                self._bind(node.target, node.value)
            elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
                self._bind(node.target, None)
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                self._bind(node.optional_vars, None)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                self.bindings.setdefault(node.name, []).append(None)
            elif isinstance(node, ast.arguments):
                for a in [*node.posonlyargs, *node.args, *node.kwonlyargs,
                          *([node.vararg] if node.vararg else []), *([node.kwarg] if node.kwarg else [])]:
                    self.bindings.setdefault(a.arg, []).append(ast.Constant(None) if id(a) in self.selfs else None)
            if isinstance(node, ast.withitem):
                self.with_calls.add(id(node.context_expr))

    def _created(self, name: str) -> bool:
        if name in _GIVEN:
            return False
        return all(v is not None and self._fresh(v) for v in self.bindings.get(name, [None]))

    def _fresh(self, value: ast.AST) -> bool:
        """Whether an expression's value is an object the card made (not one that existed before)."""
        if isinstance(value, (ast.Constant, ast.BinOp, ast.UnaryOp, ast.Compare, ast.JoinedStr,
                              ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
                              ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            return True
        if isinstance(value, (ast.List, ast.Tuple, ast.Set)):
            return all(self._fresh(e) for e in value.elts)
        if isinstance(value, ast.Dict):
            return all(v is not None and self._fresh(v) for v in [*value.keys, *value.values])
        if isinstance(value, ast.Call):
            f = value.func
            if isinstance(f, ast.Name):
                card_function = f.id in self.functions and f.id not in self.classes
                return f.id not in PASS_THROUGH and not card_function
            # a chain from a module (`torch.zeros`, `nn.Linear`) makes a new object; so does a
            # method of an object the card made (`a.view(3)`), except one that hands back
            # something the object holds (`l.pop()`, `d.get(k)`)
            root = _root(f)
            if root is None or not isinstance(f, ast.Attribute) or f.attr in HANDS_BACK:
                return False
            return root in PROVIDED or self._created(root)
        return False

    # -- the rules ---------------------------------------------------------------------------
    def first(self) -> str | None:
        for part, tree in self.trees:
            for reason in self._reasons(tree):
                return f"its {part} {reason}"
        return None

    def _reasons(self, tree: ast.AST) -> Iterator[str]:
        for node in self.nodes[id(tree)]:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                yield from self._import(node)
            elif isinstance(node, ast.Global):
                yield "declares `global`"
            elif isinstance(node, ast.ClassDef) and node.keywords:
                yield f"defines class `{node.name}` with keywords"
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in DUNDER_DEFS_DENIED:
                yield f"defines `{node.name}`"
            elif isinstance(node, ast.Name) and node.id in BUILTINS and node.id not in self.bound:
                yield f"uses `{node.id}`"
            elif isinstance(node, ast.Attribute):
                yield from self._attribute(node)
            elif isinstance(node, ast.Call):
                yield from self._call(node)
            elif isinstance(node, ast.keyword) and node.arg == "num_workers" and not (
                    isinstance(node.value, ast.Constant) and node.value.value == 0):
                yield "starts DataLoader worker processes (`num_workers`)"
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = (node.targets if isinstance(node, (ast.Assign, ast.Delete))
                           else [node.target])
                for t in targets:
                    yield from self._store(t)
            elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
                yield from self._store(node.target)
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                yield from self._store(node.optional_vars)

    def _import(self, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level or module.split(".")[0] not in SAFE_MODULES:
                yield f"imports `{module or '.'}`"
                return
            for alias in node.names:
                yield from self._module_path(f"{module}.{alias.name}", f"from {module} import {alias.name}")
        else:
            for alias in node.names:
                if alias.name.split(".")[0] not in SAFE_MODULES:
                    yield f"imports `{alias.name}`"
                yield from self._module_path(alias.name, f"import {alias.name}")

    def _module_path(self, dotted: str, what: str) -> Iterator[str]:
        chain = dotted.split(".")
        if any(part.startswith("_") or part == "*" for part in chain):
            yield f"does `{what}`"
        elif chain[0] in ("torch", "numpy"):
            if SETTER.match(chain[-1]) and chain[-1] not in ALLOWED_SETTERS:
                yield f"does `{what}` (sets process-wide state)"
            elif any(area in chain[1:] or ".".join(chain[1:]).startswith(area + ".") for area in AREAS):
                yield f"does `{what}` (process-wide state)"

    def _attribute(self, node: ast.Attribute) -> Iterator[str]:
        a = node.attr
        if a.startswith("__") and a.endswith("__"):
            super_init = (a == "__init__" and isinstance(node.value, ast.Call)
                          and _is_name(node.value.func, "super"))
            if a not in DUNDER_READS and not super_init:
                yield f"uses `{a}`"
        elif a.startswith("_"):
            yield f"uses the private `{a}`"
        elif a in REACHES:
            yield f"uses `.{a}` (process state or interpreter internals)"
        chain = _chain(node)
        if chain and chain[0] in ("torch", "nn", "F"):
            dotted = ".".join(chain[1:])
            for area in AREAS:
                if area in chain[1:] or dotted == area or dotted.startswith(area + "."):
                    yield f"uses `{'.'.join(chain)}` (process-wide state)"
                    break

    def _call(self, node: ast.Call) -> Iterator[str]:
        f = node.func
        if not isinstance(f, ast.Attribute):
            return
        name = f.attr
        root = _root(f)
        foreign = root is None or not self._created(root)
        if foreign and SETTER.match(name) and name not in ALLOWED_SETTERS and id(node) not in self.with_calls:
            yield f"calls `{_dotted(f)}` (sets process-wide state)"
        if name in MUTATORS and (root is None or not self._created(root) or not isinstance(f.value, ast.Name)):
            yield f"calls `{_dotted(f)}` on an object it did not create"

    def _store(self, target: ast.AST) -> Iterator[str]:
        if isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                yield from self._store(t)
        elif isinstance(target, ast.Starred):
            yield from self._store(target.value)
        elif isinstance(target, (ast.Attribute, ast.Subscript)):
            base = target.value
            if not (isinstance(base, ast.Name) and self._created(base.id)):
                yield f"assigns to `{_dotted(target)}`, which it did not create"


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _chain(node: ast.AST) -> list[str]:
    """``torch.nn.init.zeros_`` -> ``["torch", "nn", "init", "zeros_"]``; [] if not a plain chain."""
    names: list[str] = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return []
    names.append(node.id)
    return names[::-1]


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # pragma: no cover - unparse handles every node ast.parse makes
        return "?"
