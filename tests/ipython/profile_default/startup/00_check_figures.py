# Loaded into every kernel that runs the notebooks under test (tests/conftest.py points IPYTHONDIR
# here). After each cell, every open matplotlib figure must have labelled axes, a title and, where
# an Axes shows two or more labelled artists, a legend. A missing piece becomes an error output in
# that cell, so nbval fails on an unlabelled plot and names what is missing.
import sys


def _figure_problems(fig):
    problems = []
    has_suptitle = fig._suptitle is not None and fig._suptitle.get_text().strip()
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible() or not ax.axison or hasattr(ax, "_colorbar"):
            continue
        if not (ax.lines or ax.collections or ax.patches or ax.images):
            continue
        where = f"figure {fig.number}, axes {i}"
        if not ax.get_xlabel().strip():
            problems.append(f"{where}: no x label")
        if not ax.get_ylabel().strip():
            problems.append(f"{where}: no y label")
        if not (ax.get_title().strip() or ax.get_title("left").strip() or has_suptitle):
            problems.append(f"{where}: no title")
        labelled = [a for a in ax.lines + ax.collections if not a.get_label().startswith("_")]
        if len(labelled) >= 2 and ax.get_legend() is None and not fig.legends:
            problems.append(f"{where}: {len(labelled)} labelled lines but no legend")
    return problems


_problems = []


def _check_open_figures():
    """Runs before the inline backend closes the cell's figures: note what is missing."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    for num in plt.get_fignums():
        _problems.extend(_figure_problems(plt.figure(num)))
    if _problems:
        plt.close("all")


def _fail_cell(result):
    """Turn the noted problems into this cell's error, so the cell (and nbval) fails."""
    if not _problems:
        return
    error = AssertionError("Figure check failed: " + "; ".join(_problems))
    _problems.clear()
    result.error_in_exec = error
    get_ipython().showtraceback((AssertionError, error, None))


get_ipython().events.register("post_execute", _check_open_figures)
get_ipython().events.register("post_run_cell", _fail_cell)
