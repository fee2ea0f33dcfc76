"""The misspellings the n-gram encoder trains on, and training on them (chapter 4)."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from course_lib import Embeddings, NgramEncoder
from course_lib.ngrams import one_edit


def _levenshtein(a, b):
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=4, max_size=12), st.integers(0, 10**6))
def test_one_edit_is_at_most_two_single_letter_edits_and_keeps_the_first_letter(word, seed):
    typo = one_edit(word, np.random.default_rng(seed))
    assert typo[0] == word[0]
    assert abs(len(typo) - len(word)) <= 1
    assert _levenshtein(typo, word) <= 2   # a swap of neighbours is two substitutions


def test_short_words_are_kept():
    assert one_edit("cat", np.random.default_rng(0)) == "cat"


def test_training_on_typos_brings_a_typo_nearer_its_word():
    rng = np.random.default_rng(0)
    words = ["alpha", "bravo", "charlie", "delta", "echoes", "foxtrot", "golfing", "hotels"]
    vectors = rng.normal(size=(len(words), 8))
    emb = Embeddings(words, vectors)
    plain, robust = NgramEncoder(dim=8, n_buckets=512, seed=0), NgramEncoder(dim=8, n_buckets=512, seed=0)
    plain.fit(emb, epochs=60, batch_size=8)
    robust.fit(emb, epochs=60, batch_size=8, typos=3)
    typo, target = "chralie", emb.unit[2]
    assert np.linalg.norm(robust.encode(typo) - target) < np.linalg.norm(plain.encode(typo) - target)
