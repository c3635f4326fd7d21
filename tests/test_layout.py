"""The shape of the code: lab/ never imports Streamlit, has no import loop, one home per public name, one
ignore label, imports inside functions only with a reason, and no file over 400 lines."""

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "lab"
MAX_LINES = 400
# Names several modules define on purpose: each command group's `add_parsers`, each module's logger.
SHARED_BY_DESIGN = {"add_parsers", "log", "__all__"}


def lab_modules() -> dict[str, Path]:
    """Every module of lab/ by dotted name (a package by its own name)."""
    out = {}
    for path in sorted(LAB.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, ast.stmt, bool]]:
    """(lab module imported, the statement, whether it sits inside a function) for every import in a file."""
    tree = ast.parse(path.read_text())
    found = []

    def visit(node, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            targets = []
            if isinstance(child, ast.Import):
                targets = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom) and child.module:
                base = child.module if child.level == 0 else name.rsplit(".", child.level)[0] + "." + child.module
                # `from lab.x import y` imports lab.x.y when y is a module, else a name of lab.x
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in child.names]
            for target in targets:
                found.append((target, child, in_function))
            visit(child, inside)

    visit(tree, False)
    return found


def test_lab_never_imports_streamlit():
    code = (
        "import importlib, sys\n"
        f"for m in {sorted(set(lab_modules()) - {'lab.__main__'})!r}: importlib.import_module(m)\n"
        "import datasets, peft, trl  # what lab/ imports inside functions\n"
        "assert 'streamlit' not in sys.modules, 'lab imported streamlit'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_no_import_loop_inside_lab_counting_imports_inside_functions():
    modules = lab_modules()
    graph = defaultdict(set)
    for name, path in modules.items():
        for target, _, _ in imports_of(name, path, modules):
            if target in modules and target != name:
                graph[name].add(target)
    loops = []

    def walk(node, trail):
        for nxt in sorted(graph[node]):
            if nxt in trail:
                loops.append(trail[trail.index(nxt) :] + [nxt])
            elif nxt not in done:
                walk(nxt, trail + [nxt])
        done.add(node)

    done: set[str] = set()
    for start in sorted(modules):
        if start not in done:
            walk(start, [start])
    assert loops == [], "import loops: " + "; ".join(" -> ".join(loop) for loop in loops)


def test_an_import_inside_a_function_says_why():
    """Heavy or optional imports may wait for the function that needs them, with a comment saying so (on the
    line, or just above the block of imports)."""
    modules = lab_modules()
    unexplained = []
    for name, path in modules.items():
        lines = path.read_text().splitlines()
        for _, stmt, in_function in imports_of(name, path, modules):
            if not in_function:
                continue
            k = stmt.lineno - 1
            while k > 0 and lines[k - 1].strip().startswith(("import ", "from ")):
                k -= 1  # the first import of a block
            reason = "#" in lines[stmt.lineno - 1] or "#" in lines[k] or lines[k - 1].strip().startswith("#")
            if not reason:
                unexplained.append(f"{path.relative_to(ROOT)}:{stmt.lineno}")
    assert unexplained == []


def test_every_public_name_has_one_home():
    """A class, function or constant is defined in one module of lab/ only (packages re-export, never define)."""
    homes = defaultdict(list)
    for name, path in lab_modules().items():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                defined = [node.name]
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                defined = [t.id for t in targets if isinstance(t, ast.Name)]
            else:
                continue
            for public in (d for d in defined if not d.startswith("_") and d not in SHARED_BY_DESIGN):
                homes[public].append(name)
    assert {k: v for k, v in homes.items() if len(v) > 1} == {}


def test_the_ignore_label_is_written_once():
    """-100 lives in lab.common as IGNORE_INDEX; everywhere else uses the name."""
    bare = []
    for name, path in lab_modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.UnaryOp)
                and isinstance(node.op, ast.USub)
                and isinstance(node.operand, ast.Constant)
                and node.operand.value == 100
            ):
                bare.append(f"{name}:{node.lineno}")
    assert [b.split(":")[0] for b in bare] == ["lab.common"], bare


def test_no_python_file_is_over_400_lines():
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    files = tracked or [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py") if ".venv" not in p.parts]
    long = {f: n for f in files if (n := len((ROOT / f).read_text().splitlines())) > MAX_LINES}
    assert long == {}
