"""Skip-gram with negative sampling: the loss against HIPS autograd and finite differences, the
pairs against a direct enumeration, and the trained vectors against gensim's Word2Vec."""
import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import grad
from course_lib.embeddings import gensim_test_data
from course_lib.skipgram import (build_vocab, context_pairs, negative_sampling_loss, read_sentences,
                                 train_skipgram)


def _autograd_loss(inputs, outputs, centres, contexts, negatives):
    u = inputs[centres]
    positive = anp.sum(u * outputs[contexts], axis=1)
    negative = anp.sum(u[:, None, :] * outputs[negatives], axis=2)
    return anp.sum(anp.logaddexp(0.0, -positive)) + anp.sum(anp.logaddexp(0.0, negative))


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10**6))
def test_loss_and_gradient_match_autograd(seed):
    rng = np.random.default_rng(seed)
    inputs, outputs = rng.normal(size=(7, 4)), rng.normal(size=(7, 4))
    centres, contexts = rng.integers(0, 7, 5), rng.integers(0, 7, 5)
    negatives = rng.integers(0, 7, (5, 3))   # repeated rows: the gradient must add up
    args = (centres, contexts, negatives)
    assert negative_sampling_loss(inputs, outputs, *args) == pytest.approx(
        _autograd_loss(inputs, outputs, *args), rel=1e-12)
    ours = grad(negative_sampling_loss, argnums=(0, 1))(inputs, outputs, *args)
    theirs = autograd.grad(_autograd_loss, argnum=(0, 1))(inputs, outputs, *args)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_loss_is_the_formula_for_one_pair():
    u, v, n = np.array([[0.3, -0.2]]), np.array([[0.5, 0.1]]), np.array([[-0.4, 0.7]])
    table_in, table_out = u, np.vstack([v, n])
    sigma = lambda s: 1 / (1 + np.exp(-s))
    expected = -np.log(sigma(u[0] @ v[0])) - np.log(sigma(-(u[0] @ n[0])))
    got = negative_sampling_loss(table_in, table_out, np.array([0]), np.array([0]), np.array([[1]]))
    assert got == pytest.approx(expected, rel=1e-14)


def test_pairs_with_a_fixed_window_are_every_neighbour():
    sentences = [["a", "b", "c", "d"], ["b", "x", "a"]]   # "x" is not in the vocabulary
    index = {"a": 0, "b": 1, "c": 2, "d": 3}
    centres, contexts = context_pairs(sentences, index, window=2)
    pairs = sorted(zip(centres.tolist(), contexts.tolist()))
    expected = []
    for s in sentences:
        ids = [index[w] for w in s if w in index]
        expected += [(ids[i], ids[j]) for i in range(len(ids)) for j in range(len(ids))
                     if i != j and abs(i - j) <= 2]
    assert pairs == sorted(expected)


def test_reduced_windows_are_a_subset():
    sentences = [list("abcdefgh")]
    index = {w: i for i, w in enumerate("abcdefgh")}
    full = set(zip(*[a.tolist() for a in context_pairs(sentences, index, 3)]))
    reduced = set(zip(*[a.tolist() for a in context_pairs(sentences, index, 3,
                                                            np.random.default_rng(0))]))
    assert reduced and reduced <= full and reduced != full


def test_vocabulary_and_bad_arguments():
    words, counts = build_vocab([["b", "a", "b"], ["a", "c"]], min_count=2)
    assert words == ["a", "b"] and counts.tolist() == [2, 2]
    with pytest.raises(ValueError, match="lower min_count"):
        build_vocab([["a"]], min_count=5)
    with pytest.raises(ValueError, match="window"):
        context_pairs([["a"]], {"a": 0}, window=0)


def test_vectors_agree_with_gensim_on_its_tutorial_corpus():
    from gensim.models import Word2Vec
    from scipy.stats import spearmanr
    sentences = read_sentences(gensim_test_data("lee_background.cor"))
    ours = train_skipgram(sentences, epochs=2, seed=0)
    theirs = Word2Vec(sentences, vector_size=50, window=5, min_count=5, sg=1, negative=5,
                      epochs=2, workers=1, seed=0)
    assert ours.words[:20] == theirs.wv.index_to_key[:20]   # the same vocabulary order
    top = ours.words[50:250]
    a = ours.vectors[[ours.words.index(w) for w in top]]
    b = np.array([theirs.wv[w] for w in top])
    a, b = (m / np.linalg.norm(m, axis=1, keepdims=True) for m in (a, b))
    upper = np.triu_indices(len(top), 1)
    rho = spearmanr((a @ a.T)[upper], (b @ b.T)[upper])[0]
    assert rho > 0.35, f"similarities agree with gensim's only to Spearman {rho:.2f}"  # 2 epochs
    assert ours.losses[-1] < ours.losses[0] + 0.5
