"""The house rules, read from the source: no module of fluxcat/ holds run state at module level, and its imports have
no circle and no arrow from a lower layer up (qa/ never imports plan or backends; nothing imports Prefect)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

CORE = ROOT / "fluxcat"
# Module-level mutable objects that are not run state, each with the reason; anything else mutable at module level
# (a cache, a registry of instances, a breaker, a gauge, a journal) belongs in the run's RunContext.
ALLOWED_STATE = {
    ("fluxcat.backends", "REGISTRY"): "backend names -> classes: configuration, extended by register()",
    **{("fluxcat.backends.provider_facts", name): "published provider facts, extended at import by "
       "register_provider_facts" for name in ("PRICES", "MONTHLY_LIMITS", "TYPICAL_SECONDS", "QUALITY",
                                               "DEFAULT_CONCURRENCY", "KEY_ENV", "BASE_URL_ENV")},
    ("fluxcat.backends.hosted.secrets", "_secrets"): "every credential the process resolved, scrubbed from the "
                                                     "output of every later run too: security, not run state",
    ("fluxcat.backends.hosted.secrets", "_secret_resolvers"): "where api_key_block= secrets resolve (the Prefect "
                                                              "layer registers one): configuration",
    ("fluxcat.events", "_listeners"): "subscribers (a CLI's progress bar) that add and remove themselves; a run "
                                      "emits through its RunContext",
}
IMMUTABLE_CALLS = {"logging.getLogger", "re.compile", "threading.Lock", "threading.RLock", "TypeVar", "frozenset",
                   "tuple", "SizeRule", "SafetyFilter"}  # a lock holds no state; the others are frozen dataclasses
CONTAINER_CALLS = {"dict", "list", "set"}  # like a literal: a constant when its name is UPPER_CASE
MUTATORS = {"append", "extend", "insert", "update", "setdefault", "add", "pop", "popitem", "remove", "discard",
            "clear", "__setitem__"}
# Circles left to their owners, with why: remove an entry when it is fixed (the test then holds it fixed).
KNOWN_CIRCLES: dict[frozenset, str] = {}
# The house's layers, lowest first: a module imports only from its own layer or below.
LAYERS = [
    ["fluxcat", "fluxcat.errors", "fluxcat.limits", "fluxcat.layout", "fluxcat.schema", "fluxcat.quoted",
     "fluxcat.events", "fluxcat.storage_options", "fluxcat.data", "fluxcat.gpus", "fluxcat.placement",
     "fluxcat.budget", "fluxcat.lookalikes", "fluxcat.safety", "fluxcat.channels", "fluxcat.parquet_read"],
    ["fluxcat.store", "fluxcat.ledger", "fluxcat.lease", "fluxcat.reference"],
    ["fluxcat.qa", "fluxcat.dedupe"],
    ["fluxcat.backends"],
    ["fluxcat.settings", "fluxcat.plan", "fluxcat.outputs", "fluxcat.catalog"],
    ["fluxcat.runtime"],
    ["fluxcat.shards", "fluxcat.generate", "fluxcat.delivery", "fluxcat.manifest", "fluxcat.report", "fluxcat.refresh",
     "fluxcat.export", "fluxcat.review"],
    ["fluxcat.pipeline", "fluxcat.service", "fluxcat.serve"],
]


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(CORE.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found[name] = ast.parse(path.read_text(), str(path))
    return found


def test_no_module_of_the_core_holds_run_state():
    problems = []
    for name, tree in modules().items():
        bound = {}
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in (t for t in targets if isinstance(t, ast.Name)):
                    bound[target.id] = node.value
        for variable, value in bound.items():
            problem = _mutable(value)
            allowed = (name, variable) in ALLOWED_STATE or variable.startswith("__")
            if problem and not allowed and (not variable.isupper() or problem.startswith("an instance")):
                problems.append(f"{name}.{variable} is {problem} at module level")
        for node in ast.walk(tree):
            if isinstance(node, ast.Global):
                problems.append(f"{name} rebinds module-level {', '.join(node.names)} (global)")
        for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for variable in _mutated(function, bound):
                if (name, variable) not in ALLOWED_STATE:
                    problems.append(f"{name}.{function.name} changes module-level {variable}")
    assert problems == [], "\n".join(problems)


def _mutable(value: ast.expr) -> str | None:
    if isinstance(value, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)):
        return f"a mutable {type(value).__name__.lower().removesuffix('comp')}"
    if isinstance(value, ast.Call) and ast.unparse(value.func) in CONTAINER_CALLS:
        return f"a mutable {ast.unparse(value.func)}"
    if isinstance(value, ast.Call) and ast.unparse(value.func) not in IMMUTABLE_CALLS:
        return f"an instance made by {ast.unparse(value.func)}()"
    return None


def _mutated(function: ast.AST, module_names: dict) -> set[str]:
    """Module-level names this function changes in place (item assignment, a mutating method)."""
    local = {a.arg for a in function.args.args + function.args.kwonlyargs} if hasattr(function, "args") else set()
    local |= {t.id for n in ast.walk(function) if isinstance(n, (ast.Assign, ast.For)) for t in
              ast.walk(n.targets[0] if isinstance(n, ast.Assign) else n.target) if isinstance(t, ast.Name)}
    changed = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS:
            owner = node.func.value
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            owner = next((t.value for t in targets if isinstance(t, ast.Subscript)), None)
        else:
            continue
        if isinstance(owner, ast.Name) and owner.id in module_names and owner.id not in local:
            changed.add(owner.id)
    return changed


def import_graph() -> dict[str, set[str]]:
    """module -> the fluxcat modules it imports anywhere (at the top, inside functions, for type checking), and
    the outside packages it must never import."""
    found = modules()

    def resolve(target: str) -> str:
        while target not in found and "." in target:
            target = target.rsplit(".", 1)[0]
        return target

    graph = {}
    for name, tree in found.items():
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets |= {f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in found else node.module
                            for alias in node.names}
        graph[name] = {resolve(t) if t.startswith("fluxcat") else t.split(".")[0] for t in targets} - {name}
    return graph


def layer_of(module: str) -> int:
    for number, layer in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in layer if prefix != "fluxcat"):
            return number
    assert module == "fluxcat", f"{module} is in no layer of tests/fluxcat/test_house.py: add it where it belongs"
    return 0


def test_imports_have_no_circle_and_no_arrow_up():
    graph = import_graph()
    core = {name: {t for t in targets if t.startswith("fluxcat")} for name, targets in graph.items()}
    outside = {name: targets & {"prefect", "flows", "tasks", "fluxcat_cli"} for name, targets in graph.items()}
    assert {name: sorted(t) for name, t in outside.items() if t} == {}  # the core never imports Prefect or above it
    upward = [f"{name} ({layer_of(name)}) -> {target} ({layer_of(target)})" for name, targets in core.items()
              for target in targets if layer_of(target) > layer_of(name)]
    assert upward == [], "\n".join(upward)
    assert not {t for name, ts in core.items() if name.startswith("fluxcat.qa") for t in ts
                if t == "fluxcat.plan" or t.startswith("fluxcat.backends")}
    assert [c for c in _cycles(core) if frozenset(c) not in KNOWN_CIRCLES] == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found
