"""Chapter 4's skip-gram training: words per second of course_lib.skipgram against gensim's
Word2Vec, on the same corpus with the same settings, measured side by side in one run.

Run: .venv/bin/python benchmarks/bench_skipgram.py [--quick]
The corpus is gensim's word2vec tutorial corpus (lee_background.cor, about 60,000 words); the
settings are chapter 4's (50 dimensions, window 5, 5 negatives, min_count 5, no subsampling, one
worker thread). BLAS is limited to one thread so the numbers are stable.
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import sys  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from gensim.models import Word2Vec  # noqa: E402

from course_lib.embeddings import gensim_test_data  # noqa: E402
from course_lib.skipgram import read_sentences, train_skipgram  # noqa: E402

QUICK = "--quick" in sys.argv
EPOCHS = 1 if QUICK else 3


def main():
    sentences = read_sentences(gensim_test_data("lee_background.cor"))
    n_words = sum(map(len, sentences))
    ours = train_skipgram(sentences, dim=50, window=5, negative=5, epochs=EPOCHS, min_count=5)
    start = time.perf_counter()
    Word2Vec(sentences, vector_size=50, window=5, negative=5, epochs=EPOCHS, min_count=5, sg=1,
             sample=0, workers=1, seed=0)
    gensim_rate = EPOCHS * n_words / (time.perf_counter() - start)
    print(f"skip-gram, {n_words:,} words x {EPOCHS} epochs")
    print(f"{'':>28}{'words/s':>12}{'gensim words/s':>16}{'ratio':>8}")
    print(f"{'course_lib.skipgram (tape)':>28}{ours.words_per_second:12,.0f}{gensim_rate:16,.0f}"
          f"{ours.words_per_second / gensim_rate:8.3f}")


if __name__ == "__main__":
    main()
