# The course's commands. Each one sets up .venv by itself the first time (and again when
# pyproject.toml changes); nothing outside this folder is touched.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# JupyterLab refuses to run as root unless told; a learner's own account never needs this.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
# Extra arguments for `make lab`, e.g. LAB_ARGS="--no-browser --port=8899".
LAB_ARGS ?=
# Extra arguments for `make test`, e.g. TEST_ARGS="-k dual".
TEST_ARGS ?=

.PHONY: lab test setup notebooks workbook book clean assignments grade

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadscope $(TEST_ARGS)

setup: $(STAMP)

# Re-execute every notebook in place (for authors; commit the result).
notebooks: $(STAMP)
	$(BIN)/python tests/execute_notebooks.py $(sort $(wildcard notebooks/*.ipynb masters/*.ipynb))

# The learner's exercise notebooks from the masters (for authors; commit the result): writes
# notebooks/NN_<chapter>_exercises.ipynb and course_lib/checks/, then executes the copies.
# It overwrites the copies in notebooks/, answers included.
workbook: $(STAMP)
	$(BIN)/python -m course_lib.workbook
	$(BIN)/python tests/execute_notebooks.py $(sort $(wildcard notebooks/*_exercises.ipynb))

# The course as a static HTML book in _build/html (open _build/html/index.html; works offline).
# Uses the committed outputs; fetches MathJax from the npm registry once, into _build/mathjax.
book: $(STAMP)
	$(BIN)/python book/build.py

# Student copies of every exercise master, offline, into dist/assignments/<name>/ (see README,
# "Teaching with this course").
assignments: $(STAMP)
	$(BIN)/python -m course_lib.classroom assign

# Grade a folder of returned notebooks: make grade CHAPTER=01 SUBMISSIONS=path/to/folder
# into dist/grades/<name>.csv and dist/grades/<name>/feedback/; TIMEOUT seconds per notebook.
# Each notebook runs in a bubblewrap sandbox (apt-get install bubblewrap); UNSAFE=1 grades
# without one, and every row of the gradebook says so.
CHAPTER ?=
SUBMISSIONS ?=
TIMEOUT ?= 300
UNSAFE ?=
grade: $(STAMP)
	$(BIN)/python -m course_lib.classroom grade "$(CHAPTER)" "$(SUBMISSIONS)" --timeout $(TIMEOUT) \
		$(if $(UNSAFE),--unsafe,)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) dist _build .pytest_cache
