"""The layers of the package, enforced: a module imports only from its own folder and the
layers below it, read from the source (imports inside functions included):

    ir  <-  ops  <-  autodiff, rewrite, backends, interop  <-  present  <-  verify  <-  the top
    (symgrad/__init__.py, api, cli, demo, serve, micrograd)

The four middle folders are one floor and independent of each other. `KNOWN` lists the imports
that still run against the layers, each a cut still to make; the test fails on any other, and
on an entry of `KNOWN` that no longer exists, so the list only shrinks."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "symgrad"
FLOORS = {"ir": 0, "ops": 1, "autodiff": 2, "rewrite": 2, "backends": 2, "interop": 2,
          "present": 3, "verify": 4}
TOP = 5

KNOWN = {  # (importer, imported): the cuts still to make
}


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
    wrong = against_the_layers()
    new = sorted(wrong - KNOWN)
    assert not new, "imports against the layers:\n" + "\n".join(f"  {a} -> {b}" for a, b in new)


def test_the_list_of_known_cuts_only_shrinks():
    gone = sorted(KNOWN - against_the_layers())
    assert not gone, "no longer imported: remove from KNOWN:\n" + "\n".join(
        f"  {a} -> {b}" for a, b in gone)
