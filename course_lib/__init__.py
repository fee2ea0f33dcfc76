"""Differentiable Programming, hands-on: the library the chapters build, one idea per module."""
from .datasets import ChecksumError, data_path, verify_all

__all__ = [
    "ChecksumError", "data_path", "verify_all",
]
