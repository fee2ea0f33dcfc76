# Test kernels keep no history file in the repository.
c.HistoryManager.enabled = False  # noqa: F821
