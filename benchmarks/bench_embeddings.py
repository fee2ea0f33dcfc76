"""Speed of course_lib.embeddings against numpy and gensim, measured side by side (chapter 4).

Run: .venv/bin/python benchmarks/bench_embeddings.py [--skip-gensim]
Prints one row per measurement: our time, the reference's time, their ratio, the target, PASS/MISS.
gensim's full analogy evaluation takes minutes; --skip-gensim leaves it out.
"""
import os

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402
import timeit  # noqa: E402

import numpy as np  # noqa: E402

from course_lib import load_glove  # noqa: E402
from course_lib.embeddings import gensim_test_data  # noqa: E402


def best_of(fn, repeat=5, number=1):
    """Best wall time of one call, over `repeat` repeats of `number` calls."""
    return min(timeit.repeat(fn, repeat=repeat, number=number)) / number


def side_by_side(ours, ref, repeat=5):
    """Best times of two functions, measured alternately so that load changes hit both alike."""
    t_ours, t_ref = [], []
    for _ in range(repeat):
        t_ours += timeit.repeat(ours, repeat=1, number=1)
        t_ref += timeit.repeat(ref, repeat=1, number=1)
    return min(t_ours), min(t_ref)


def bare_neighbours(unit, rows, k):
    """The reference: one matmul and argpartition, nothing else (no sorting, no exclusion)."""
    scores = unit[rows] @ unit.T
    return np.argpartition(-scores, k, axis=1)[:, :k + 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-gensim", action="store_true", help="skip gensim's slow evaluation")
    args = parser.parse_args()
    rows_out = []

    # 1. Loading, with the SHA-256 check of both files.
    t_load = best_of(load_glove, repeat=5)
    rows_out.append(("load_glove() incl. checksum", t_load, None, "-", "<= 0.5 s", t_load <= 0.5))

    glove = load_glove()
    unit = np.ascontiguousarray(glove.unit)
    queries = np.random.default_rng(0).choice(len(glove), 1000, replace=False)

    # 2. Top-10 neighbours of 1000 query words over the 50,000 words.
    ours, ref = side_by_side(lambda: glove.nearest(glove.vectors[queries], 10, queries[:, None]),
                             lambda: bare_neighbours(unit, queries, 10))
    rows_out.append(("top-10 of 1000 words (vs matmul+argpartition)", ours, ref, f"{ours / ref:.2f}x",
                     "<= 2x", ours <= 2 * ref))

    # 3. The full analogy evaluation, restrict_vocab=30,000.
    t0 = time.perf_counter()
    result = glove.evaluate_analogies(restrict_vocab=30000)
    t_ours = time.perf_counter() - t0
    t_gensim, same = None, "-"
    if not args.skip_gensim:
        from gensim.models import KeyedVectors
        logging.disable(logging.INFO)
        kv = KeyedVectors(glove.dim)
        kv.add_vectors(glove.words, np.array(glove.vectors))
        t0 = time.perf_counter()
        score, sections = kv.evaluate_word_analogies(str(gensim_test_data("analogies")),
                                                     restrict_vocab=30000)
        t_gensim = time.perf_counter() - t0
        same = "same" if (score == result.accuracy and sections == result.sections) else "DIFFERENT"
    rows_out.append((f"analogy evaluation, 30k vocab (gensim: {same} result)", t_ours, t_gensim,
                     f"{t_ours / t_gensim:.3f}x" if t_gensim else "-", "<= 5 s", t_ours <= 5.0))

    print(f"{'measurement':<52}{'ours':>10}{'reference':>11}{'ratio':>9}{'target':>10}  result")
    for name, t, r, ratio, target, ok in rows_out:
        ref_text = f"{r:.3f} s" if r is not None else "-"
        print(f"{name:<52}{t:>8.3f} s{ref_text:>11}{ratio:>9}{target:>10}  {'PASS' if ok else 'MISS'}")
    print(f"analogy accuracy {result.accuracy:.4f} (semantic {result.semantic:.4f}, "
          f"syntactic {result.syntactic:.4f})")


if __name__ == "__main__":
    main()
