"""Test-suite set-up: strict warnings for unit tests, seeded hypothesis, a figure check in kernels."""
import os
import pathlib

import pytest
from hypothesis import settings

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Kernels started by nbval inherit this environment: the profile's startup file checks every figure.
os.environ["IPYTHONDIR"] = str(ROOT / "tests" / "ipython")
# Notebook kernels must not pick up a user's matplotlib style or backend.
os.environ.pop("MPLBACKEND", None)
os.environ.setdefault("MPLCONFIGDIR", str(ROOT / ".venv" / "mplconfig"))

# Reproducible property tests: the same examples on every run and machine.
settings.register_profile("course", derandomize=True, deadline=None, max_examples=60,
                          print_blob=True)
settings.load_profile("course")


def pytest_collection_modifyitems(config, items):
    """Warnings are errors in the unit tests (not in nbval's notebook items)."""
    for item in items:
        if str(item.fspath).endswith(".py"):
            item.add_marker(pytest.mark.filterwarnings("error"))
