"""Every notebook in notebooks/ runs clean, top to bottom, in a fresh kernel of this venv.

Each notebook gets a per-cell timeout and a whole-notebook budget; a failing cell fails the
test with the cell's error. Nothing is skipped: a missing kernel or notebook is a failure.
"""

import asyncio
import os
import sys
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 120  # seconds per cell
NOTEBOOK_BUDGET = 240  # seconds per notebook, kernel start included
KERNEL = "python3"
# The data-beyond-memory notebook fits 10^8 rows when run by hand; here 2*10^6 keep it short.
os.environ.setdefault("SYMGRAD_NOTEBOOK_ROWS", str(2 * 10**6))
PROBE = "import sys; print(sys.prefix)"


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3, f"expected notebooks in notebooks/, found {NOTEBOOKS}"


@pytest.fixture(scope="module")
def venv_kernel():
    """The `python3` kernelspec, looked up first in this venv's share/jupyter."""
    venv_data = str(Path(sys.prefix) / "share" / "jupyter")
    previous = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (venv_data, previous) if p)
    try:
        import ipykernel  # noqa: F401  (the kernel must be importable by this interpreter)

        spec = KernelSpecManager().get_kernel_spec(KERNEL)
        # jupyter_client swaps a bare "python" for sys.executable, the venv's interpreter
        assert spec.argv[0] in ("python", "python3", sys.executable), spec.argv
        yield KERNEL
    finally:
        if previous is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = previous


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_clean(path, venv_kernel):
    notebook = nbformat.read(path, as_version=4)
    # A last, unsaved cell tells which interpreter the kernel really ran.
    notebook.cells.append(nbformat.v4.new_code_cell(PROBE))
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name=venv_kernel,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        asyncio.run(asyncio.wait_for(client.async_execute(), NOTEBOOK_BUDGET))
    except asyncio.TimeoutError:
        pytest.fail(f"{path.name} took longer than {NOTEBOOK_BUDGET} s")
    elapsed = time.perf_counter() - start
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"{path.name}: {output}"
    probe = notebook.cells[-1]["outputs"][0]["text"].strip()
    assert Path(probe).resolve() == Path(sys.prefix).resolve(), (
        f"{path.name} ran in {probe}, not this venv ({sys.prefix})"
    )
    assert elapsed < NOTEBOOK_BUDGET
