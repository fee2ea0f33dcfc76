"""Word vectors trained here: skip-gram with negative sampling, differentiated by the tape.

Chapter 4 trains them on the corpus of gensim's own word2vec tutorial (``lee_background.cor``,
about 60,000 words of news, shipped in gensim's test data) and compares them with gensim's
``Word2Vec`` on the same corpus and settings. The model (Mikolov et al. 2013): each word has an
input vector u and an output vector v; a word c and a word o seen within a few words of it should
have a large u_c . v_o, and c with k words drawn at random (from the unigram distribution to the
power 3/4) a small one. The loss of one pair is

    -log sigma(u_c . v_o) - sum over the k negatives n of log sigma(-u_c . v_n),

and ``train_skipgram`` runs stochastic gradient descent on minibatches of pairs, with the gradient
of the summed loss from ``course_lib.grad`` (a scatter-add into the rows used, chapter 4 section 2)
and word2vec's linearly decaying step. It is written for reading, not for speed: the benchmark
``benchmarks/bench_skipgram.py`` measures its words per second against gensim's.
"""
import collections
import dataclasses
import re
import time

import numpy as np

from .reverse import value_and_grad

__all__ = ["read_sentences", "build_vocab", "context_pairs", "negative_sampling_loss",
           "SkipGramResult", "train_skipgram"]


def read_sentences(path):
    """Read a text file into sentences: one per line, lower-case runs of letters as words.

    Args: path: a text file (str or pathlib.Path).
    Returns: a list of lists of words; empty lines are dropped.
    """
    with open(path, encoding="utf-8") as handle:
        sentences = [re.findall(r"[a-z]+", line.lower()) for line in handle]
    return [s for s in sentences if s]


def build_vocab(sentences, min_count=5):
    """Return the words seen at least ``min_count`` times, most frequent first, and their counts.

    Args: sentences: lists of words; min_count: the fewest occurrences a word needs (as gensim's).
    Returns: ``(words, counts)``: a list, ties broken alphabetically, and an int array.
    """
    if min_count < 1:
        raise ValueError(f"min_count must be at least 1, got {min_count}")
    tally = collections.Counter(w for s in sentences for w in s)
    kept = sorted((w for w, n in tally.items() if n >= min_count), key=lambda w: (-tally[w], w))
    if not kept:
        raise ValueError(f"no word occurs {min_count} times or more: lower min_count or give a "
                         "larger corpus")
    return kept, np.array([tally[w] for w in kept])


def context_pairs(sentences, index, window, rng=None):
    """Return every (centre, context) pair of word ids within ``window`` words of each other.

    Words outside ``index`` are dropped before pairing, as word2vec does. With ``rng``, each
    centre word draws its own window from 1 to ``window`` (word2vec's reduced window, which
    weights near words more); without it the window is always ``window``.

    Args: sentences: lists of words; index: word -> id; window: at least 1; rng: a numpy Generator.
    Returns: two int arrays of equal length, the centre ids and the context ids.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    centres, contexts = [], []
    for sentence in sentences:
        ids = [index[w] for w in sentence if w in index]
        reach = rng.integers(1, window + 1, len(ids)) if rng is not None else [window] * len(ids)
        for i, (centre, b) in enumerate(zip(ids, reach)):
            for j in range(max(0, i - b), min(len(ids), i + b + 1)):
                if j != i:
                    centres.append(centre)
                    contexts.append(ids[j])
    return np.array(centres, dtype=int), np.array(contexts, dtype=int)


def negative_sampling_loss(inputs, outputs, centres, contexts, negatives):
    """Return the summed skip-gram loss of a batch of pairs, each with its negative words.

    Args:
        inputs, outputs: the input and output vector tables, arrays (V, d) (or traced values).
        centres, contexts: int arrays (B,); negatives: int array (B, k).
    Returns:
        The sum over the batch of -log sigma(u_c . v_o) - sum_n log sigma(-u_c . v_n), computed
        as softplus terms (log(1 + e^-s)), which stay finite for large scores.
    """
    u = inputs[centres]
    positive = np.sum(u * outputs[contexts], axis=1)
    negative = np.sum(u[:, None, :] * outputs[negatives], axis=2)
    return np.sum(np.logaddexp(0.0, -positive)) + np.sum(np.logaddexp(0.0, negative))


@dataclasses.dataclass
class SkipGramResult:
    """Holds trained skip-gram vectors (chapter 4).

    Fields: ``words`` (most frequent first), ``vectors`` (the input vectors, (V, d)), ``losses``
    (the mean loss per pair of each epoch's last batch), ``seconds`` (training wall time),
    ``words_per_second`` (corpus words processed per second, as gensim reports it).
    """
    words: list
    vectors: np.ndarray
    losses: list
    seconds: float
    words_per_second: float


def train_skipgram(sentences, dim=50, window=5, negative=5, epochs=5, min_count=5, batch=512,
                   lr=0.025, seed=0):
    """Train skip-gram vectors with negative sampling by minibatch SGD on the tape's gradients.

    Args:
        sentences: lists of words (``read_sentences``).
        dim: vector size; window: the largest distance between a centre and a context word;
        negative: random words per pair; epochs: passes over the corpus; min_count: as
        ``build_vocab``; batch: pairs per step; lr: the first step size, decaying linearly to
        nearly 0 at the end, as in word2vec; seed: for the initial vectors, windows and negatives.
    Returns:
        A ``SkipGramResult``.
    """
    if negative < 1 or epochs < 1 or batch < 1:
        raise ValueError("negative, epochs and batch must each be at least 1; got "
                         f"{negative}, {epochs}, {batch}")
    words, counts = build_vocab(sentences, min_count)
    index = {w: i for i, w in enumerate(words)}
    noise = counts.astype(float) ** 0.75
    noise /= noise.sum()
    rng = np.random.default_rng(seed)
    inputs = (rng.random((len(words), dim)) - 0.5) / dim  # word2vec's initialisation
    outputs = np.zeros((len(words), dim))
    step = value_and_grad(negative_sampling_loss, argnums=(0, 1))
    n_words = sum(len(s) for s in sentences)
    done, losses, start = 0, [], time.perf_counter()
    for _ in range(epochs):
        centres, contexts = context_pairs(sentences, index, window, rng)
        order = rng.permutation(len(centres))
        for first in range(0, len(order), batch):
            pick = order[first:first + batch]
            drawn = rng.choice(len(words), size=(len(pick), negative), p=noise)
            rate = lr * max(1e-4, 1.0 - done / (epochs * len(order)))  # len(order) varies a little
            value, (g_in, g_out) = step(inputs, outputs, centres[pick], contexts[pick], drawn)
            inputs -= rate * g_in
            outputs -= rate * g_out
            done += len(pick)
        losses.append(float(value) / len(pick))
    seconds = time.perf_counter() - start
    return SkipGramResult(words, inputs, losses, seconds, epochs * n_words / seconds)
