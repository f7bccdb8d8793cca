"""The layers of the package, enforced: a module imports only from its own folder and the
layers below it, read from the source (imports inside functions included):

    ir  <-  ops  <-  autodiff, rewrite, backends, interop  <-  present  <-  verify  <-  the top
    (symgrad/__init__.py, api, cli, demo, serve, micrograd)

The four middle folders are one floor and independent of each other. No symgrad import sits
inside a function to dodge a cycle: the one late import, the sympy worker's start in its own
process, says so with a `# late:` comment."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "symgrad"
FLOORS = {"ir": 0, "ops": 1, "autodiff": 2, "rewrite": 2, "backends": 2, "interop": 2,
          "present": 3, "verify": 4}
TOP = 5



def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def place(module: str) -> tuple[int, str]:
    """(floor, folder) of a module of symgrad."""
    parts = module.split(".")
    folder = parts[1] if len(parts) > 1 else ""
    return (FLOORS[folder], folder) if folder in FLOORS else (TOP, folder)


def imports_of(path: Path) -> set[str]:
    """The symgrad modules `path` imports, wherever the import stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("symgrad"):
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names
                             if (PACKAGE.parent / f"{node.module}.{alias.name}".replace(".", "/")
                                 ).with_suffix(".py").exists())
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("symgrad"))
    return found


def against_the_layers() -> set[tuple[str, str]]:
    wrong = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = module_name(path)
        floor, folder = place(importer)
        for imported in imports_of(path):
            if imported == "symgrad" or imported.count(".") == 1 and place(imported)[0] < TOP \
                    and imported.split(".")[1] in FLOORS:
                continue  # the package or a folder's own __init__: no code of its own
            their_floor, their_folder = place(imported)
            if their_floor > floor or (their_floor == floor and their_folder != folder
                                       and floor != TOP):
                wrong.add((importer, imported))
    return wrong


def test_imports_point_down_the_layers():
    wrong = sorted(against_the_layers())
    assert not wrong, "imports against the layers:\n" + "\n".join(
        f"  {a} -> {b}" for a, b in wrong)


def late_imports(path: Path) -> list[tuple[int, str]]:
    """The symgrad imports inside functions of `path`: (line, module), except those whose
    line says why with a `# late:` comment (the worker process's own start)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    for function in ast.walk(ast.parse("\n".join(lines))):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            if any(m.startswith("symgrad") for m in modules) and "# late:" not in lines[
                    node.lineno - 1]:
                found.append((node.lineno, modules[0]))
    return found


def test_no_import_inside_a_function_dodges_a_cycle():
    found = [f"  {path.relative_to(PACKAGE.parent)}:{line} imports {module}"
             for path in sorted(PACKAGE.rglob("*.py")) for line, module in late_imports(path)]
    assert not found, "imports inside functions (move them to the top):\n" + "\n".join(found)
