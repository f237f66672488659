"""The package's shape, checked: imports flow one way, no import cycle, small modules.

Imports inside functions count. Layers, lowest first (a module may import its own layer
and those below it, never above):

    errors
    core                      the compiler: knows no backend and no front end
    frontends.sympy, .text    front ends that only write formula text
    backends                  programs -> code -> callables
    tools                     checks, pictures, residuals: take programs or Functions
    api                       compile(), hessian(), residuals()
    frontends, tools.cli, train, datasets   built on compile(), as a user's code is
    exprgrad (the package, __main__, the public-path modules)
"""

from __future__ import annotations

import ast
from pathlib import Path

import exprgrad

PACKAGE = Path(exprgrad.__file__).parent
MAX_LINES = 600

# most specific prefix wins
LAYERS = {
    "exprgrad.errors": 0,
    "exprgrad.core": 1,
    "exprgrad.frontends.sympy": 2,
    "exprgrad.frontends.text": 2,
    "exprgrad.backends": 3,
    "exprgrad.tools": 4,
    "exprgrad.api": 5,
    "exprgrad.frontends": 6,
    "exprgrad.tools.cli": 6,
    "exprgrad.train": 6,
    "exprgrad.datasets": 6,
    "exprgrad": 7,
}
# Upward imports that are allowed, each inside a function and each for a reason.
UPWARD = {
    # f.check(), f.latex(), f.to_sympy(), f.graph() and the notebook views are methods of
    # the Function a user holds; the tools they call never import the Function class
    ("exprgrad.backends.python.function", "exprgrad.tools"),
    ("exprgrad.tools.cli", "exprgrad"),  # --version reads exprgrad.__version__
    # f.value_and_grad(X=dask_array, ...) sums over the chunks: the tool builds the chunks'
    # functions through the backend registry, never importing the Function class
    ("exprgrad.backends.numpy.function", "exprgrad.tools.over_dask"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(name: str) -> int:
    prefix = max((p for p in LAYERS if name == p or name.startswith(p + ".")), key=len)
    return LAYERS[prefix]


def imports(name: str) -> dict[str, bool]:
    """{exprgrad module imported: at module level?} for one module."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, bool] = {}
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import module` imports the module; `from module import name` the module
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        for target in targets:
            if target in MODULES:
                found[target] = found.get(target, False) or id(node) in top_level
    return found


def test_no_module_is_longer_than_the_limit():
    long = {
        name: n for name, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long


def test_imports_flow_one_way():
    wrong = []
    for name in MODULES:
        for target in imports(name):
            if layer(target) <= layer(name):
                continue
            if any(
                name.startswith(a) and (target == b or target.startswith(b + "."))
                for a, b in UPWARD
            ):
                continue
            wrong.append(f"{name} -> {target}")
    assert not wrong, wrong


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The import cycles of a graph: its strongly connected components of two or more
    modules (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def enter(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)

    for start in graph:
        if start in index:
            continue
        enter(start)
        work = [(start, iter(graph[start]))]
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    enter(target)
                    work.append((target, iter(graph[target])))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def test_no_import_cycles():
    assert not cycles({name: sorted(imports(name)) for name in MODULES})


def test_the_checks_see_the_package():
    """The import reader finds the edges it is meant to judge (a reader that found none
    would pass every test above)."""
    assert imports("exprgrad.api")["exprgrad.core.pipeline"] is True
    assert imports("exprgrad.backends.python.function")["exprgrad.tools.graph"] is False
    assert layer("exprgrad.tools.cli") > layer("exprgrad.api") > layer("exprgrad.core.ir")
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a", "e"], "e": ["d"], "f": []}
    assert sorted(cycles(graph)) == [["a", "b", "c"], ["d", "e"]]
