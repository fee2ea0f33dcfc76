"""Derivative rules, written once and read by both modes: forward mode (``course_lib.dual``) and
reverse mode (``course_lib.tape``). Each module holds one family of numpy functions; chapter 1
introduces the elementwise table and its ``defjvp``."""
