"""Trusted grading: each submission runs in a sandbox, and every verdict is reached outside it.

The instructor's tool behind `make assignments` and `make grade` (course_lib/classroom.py); not
part of the learners' API. The modules, in the order a submission meets them:

- `wire.py`: the only things that cross between the sandbox and the grader, data as JSON lines
  (numbers, strings, arrays as `.npy` bytes), never pickle;
- `sandbox.py`: the bubblewrap sandbox a submission runs in, its limits, and the grader's end of
  the channel;
- `student_side.py`: what runs inside the sandbox, the student's cells and the tests' statements;
- `verdicts.py`: the grader's side of each test: every `assert` is evaluated here, on data;
- `scan.py`: flags for review, answers that touch the grader's or the interpreter's machinery.
"""
