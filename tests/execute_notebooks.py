"""Execute notebooks top to bottom in a fresh kernel and save them with their outputs.

Usage: .venv/bin/python tests/execute_notebooks.py notebooks/01_derivatives.ipynb [...]
(or `make notebooks` for all of them). Kernels run with the same figure check as the tests, from
the notebooks' own folder; a cell that raises without the `raises-exception` tag stops the run.
"""
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
os.environ["IPYTHONDIR"] = str(ROOT / "tests" / "ipython")
os.environ.pop("MPLBACKEND", None)

import nbformat  # noqa: E402  (after the environment is set for the kernel)
from nbclient import NotebookClient  # noqa: E402

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def execute(path, timeout=600):
    """Run one notebook in place; return its wall time in seconds."""
    path = pathlib.Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = KERNELSPEC
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - start
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)
    nbformat.write(nb, path)
    return elapsed


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(f"{arg}: {execute(arg):.1f} s", flush=True)
