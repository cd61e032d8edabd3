"""The package's layers: every import points down (or sideways within a layer), and no circles.

LAYERS is the one list of the layer order (bottom first); docs/layout.md describes it. A module
belongs to the layer of its longest matching prefix. Imports are read with ast from the source
files, top-level and function-local alike, so a lazy import cannot hide an upward edge.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Bottom to top. A module may import its own layer and any layer below it, never above.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("core", ("tinyrnn.core",)),
    ("data", ("tinyrnn.train.data_checks", "tinyrnn.train.dataset", "tinyrnn.train.npz_data",
              "tinyrnn.train.synthetic",
              "tinyrnn.train.watch", "tinyrnn.train.sources", "tinyrnn.train.normalization",
              "tinyrnn.train.vowels")),
    ("training", ("tinyrnn.train",)),
    ("conversion", ("tinyrnn.convert",)),
    ("device link", ("tinyrnn.deploy",)),
    ("measurement", ("tinyrnn.measure", "tinyrnn.sweep", "tinyrnn.verdict")),
    ("pipeline, report, CLI, API", ("tinyrnn.pipeline", "tinyrnn.report", "tinyrnn.report_device",
                                    "tinyrnn.report_compare", "tinyrnn.report_frontier",
                                    "tinyrnn.cli", "tinyrnn.api", "tinyrnn.__main__")),
)
# The package folders as they install (pyproject's package-dir): import name -> folder.
PACKAGE_DIRS = {"tinyrnn": "tinyrnn", "tinyrnn.train": "train", "tinyrnn.convert": "convert",
                "tinyrnn.deploy": "deploy"}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, folder in PACKAGE_DIRS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([package, *parts])
            if name.split(".")[1:2] in (["train"], ["convert"], ["deploy"]) and folder == "tinyrnn":
                continue  # tinyrnn/train etc. do not exist; the mapping above is the truth
            found[name] = path
    return found


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None
    for index, (_name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    return None if best is None else best[0]


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    base = module.split(".") if is_package else module.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                stem = ".".join(anchor + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            targets = [f"{stem}.{a.name}" for a in node.names] + [stem]
        for t in targets:
            # Resolve to the longest known module name (``from x import name`` names attributes).
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != module:
                out.add(t)
    return out


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {m: _imports(m, p, known) for m, p in mods.items()}


def test_every_module_has_a_layer():
    missing = sorted(m for m in _modules() if m != "tinyrnn" and layer_of(m) is None)
    assert not missing, f"modules in no layer (add them to LAYERS): {missing}"


def test_imports_point_down():
    upward = []
    for module, targets in import_graph().items():
        mine = layer_of(module)
        for t in targets:
            theirs = layer_of(t)
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(f"{module} ({LAYERS[mine][0]}) imports {t} ({LAYERS[theirs][0]})")
    assert not upward, "imports pointing up:\n" + "\n".join(sorted(upward))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _package_edge(module: str, target: str) -> bool:
    """A package's __init__ re-exporting its own modules is not a circle worth failing."""
    return (module != target and target.startswith(module + ".")) or module.startswith(target + ".")


def test_no_import_circles():
    graph = {m: {t for t in ts if not _package_edge(m, t)} for m, ts in import_graph().items()}
    assert _cycles(graph) == []


def test_the_checker_sees_an_upward_import_and_a_circle():
    """The rules above can fail: a made-up upward edge and a made-up circle are caught."""
    assert layer_of("tinyrnn.train.fit") < layer_of("tinyrnn.pipeline")
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]


def test_one_top_level_name_is_installed():
    """pyproject lists every Python package (a wheel would silently drop a missing one)."""
    import tomllib

    setup = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setup["packages"])
    assert {p.split(".")[0] for p in listed} == {"tinyrnn"}
    mapping = setup["package-dir"]
    code_packages = {m for m, path in _modules().items() if path.name == "__init__.py"}
    assert code_packages <= listed, f"not in pyproject packages: {sorted(code_packages - listed)}"
    for name, folder in mapping.items():
        marker = "platformio.ini" if name == "tinyrnn.firmware" else "__init__.py"
        assert (REPO / folder / marker).is_file(), f"{name} -> {folder} has no {marker}"


@pytest.mark.parametrize("argv", [["report", "--help"], ["--version"]])
def test_report_and_cli_do_not_import_tensorflow(argv):
    """`tinyrnn report` reads JSON: loading the CLI and the report must not pull in TensorFlow."""
    code = ("import sys, tinyrnn.cli, tinyrnn.report\n"
            "try:\n"
            f"    tinyrnn.cli.main({argv!r})\n"
            "except SystemExit:\n"
            "    pass\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'tf_keras', 'keras'))\n"
            "print('HEAVY', heavy[:5])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/",
                         timeout=120, check=True).stdout
    assert "HEAVY []" in out, out
