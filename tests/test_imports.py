"""Import hygiene: no cycles among affectlens modules, and the runtime never imports training
or evaluation code, torch, scikit-learn, scipy or onnx (only the recipes and benches may)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import affectlens

SRC = Path(affectlens.__file__).parent
#: packages and modules outside the runtime: recipes, evaluation and benches, the CLI that calls them
NOT_RUNTIME = ("affectlens.train", "affectlens.evaluate", "affectlens.cli", "affectlens.__main__")
MODULE_STRING = re.compile(r"^affectlens(\.\w+)+(:\w+)?$")
FORBIDDEN = ("torch", "sklearn", "scipy", "onnx", "tensorflow", "keras", "opensmile")


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for p in SRC.rglob("*.py"):
        parts = list(p.relative_to(SRC.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)
    return out


MODULES = _modules()


def _absolute(name: str | None, module: str, level: int, is_pkg: bool) -> str:
    if not level:
        return name or ""
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _imports(module: str) -> tuple[set[str], set[str]]:
    """``(affectlens modules, other top-level packages)`` imported anywhere in ``module``: at
    top level, inside functions, through ``importlib.import_module("...")`` and through any
    string that names a module (``"affectlens.face"``, ``"affectlens.face.analyzer:FaceAnalyzer"``),
    as loaders do."""
    path, is_pkg = MODULES[module]
    tree = ast.parse(path.read_text())
    inner, outer = set(), set()

    def add(name: str) -> None:
        if name.split(".")[0] == "affectlens":
            inner.add(name)
        else:
            outer.add(name.split(".")[0])

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                add(a.name)
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(node.module, module, node.level, is_pkg)
            if target.split(".")[0] != "affectlens":
                add(target)
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                inner.add(sub if sub in MODULES else target)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                name = arg.value
                level = len(name) - len(name.lstrip("."))
                add(_absolute(name.lstrip(".") or None, module, level, is_pkg) if level else name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_STRING.match(node.value):
            add(node.value.split(":")[0])
    if module == "affectlens":  # the lazy public names (``affectlens._PUBLIC``) are imports too
        inner |= {f"affectlens.{m}" for m in affectlens._PUBLIC.values()}
    if module == "affectlens.registry":  # it imports every <package>/spec.py it finds
        inner |= {m for m in MODULES if m.endswith(".spec")}
    return {m for m in inner if m in MODULES and m != module}, outer


GRAPH = {m: _imports(m) for m in MODULES}


def _runtime(module: str) -> bool:
    return not any(module == n or module.startswith(n + ".") for n in NOT_RUNTIME)


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH[v][0]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_function_level_and_importlib_imports():
    assert "affectlens.media.asr" in GRAPH["affectlens.pipeline"][0]  # imported inside a function
    assert "affectlens.face.spec" in GRAPH["affectlens.registry"][0]  # "affectlens.face.spec:SPEC"
    assert "affectlens.face.analyzer" in GRAPH["affectlens.face.spec"][0]  # "...analyzer:FaceAnalyzer"
    assert "affectlens.engine" in GRAPH["affectlens"][0]  # lazy public name


def test_no_import_cycles():
    assert _cycles() == []


def test_runtime_never_imports_training_code_or_fitting_libraries():
    bad = {}
    for m, (inner, outer) in GRAPH.items():
        if _runtime(m):
            wrong = sorted(x for x in inner if not _runtime(x)) + sorted(outer & set(FORBIDDEN))
            if wrong:
                bad[m] = wrong
    assert bad == {}


def test_importing_the_runtime_loads_none_of_them():
    runtime = sorted(m for m in MODULES if _runtime(m) and ".models." not in m)
    code = (f"import importlib, sys\nfor m in {runtime!r}: importlib.import_module(m)\n"
            f"print(sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r} "
            f"or n.startswith({NOT_RUNTIME!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
