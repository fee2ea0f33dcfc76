"""Any string into a vector: a character n-gram encoder trained to mimic word vectors (chapter 4).

As in fastText, a string is cut into its character n-grams, each hashed into a row of a table, and
its vector is the mean of those rows. ``NgramEncoder.fit`` trains the table with the course's tape
so that each word's vector regresses onto its GloVe vector; with ``typos`` it also trains on
misspellings made by ``one_edit``, mapped to the vector of the word they misspell, so that a
misspelled word lands near its word.
"""
import numpy as np

__all__ = ["fnv1a", "one_edit", "NgramEncoder"]


def one_edit(word, rng):
    """Return a misspelling of ``word`` by one random edit (chapter 4).

    The edit is one of: a letter deleted, a letter doubled, two neighbouring letters swapped, a
    letter replaced by a vowel; the first letter stays. Words of three letters or fewer are
    returned unchanged.
    Args: word: a string; rng: a numpy Generator.
    """
    if len(word) <= 3:
        return word
    i = int(rng.integers(1, len(word) - 1))
    kind = int(rng.integers(4))
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    if kind == 2:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + "aeiouy"[int(rng.integers(6))] + word[i + 1:]


def fnv1a(data):
    """Return the 32-bit FNV-1a hash of bytes: fastText's n-gram hash, stable across runs (chapter 4)."""
    h = 2166136261
    for byte in data:
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


class NgramEncoder:
    """Maps any string to a vector: the mean of hashed character n-gram vectors (chapter 4).

    As in fastText, a word is wrapped as "<word>" and cut into its character n-grams for n in
    n_min..n_max; each n-gram is hashed (FNV-1a) into one of n_buckets rows of ``table``, and the
    word's vector is the mean of those rows. Misspelled and invented words share most n-grams with
    real words, so once the table is trained (``fit``) they land near them.

    Args: dim: vector size; n_buckets: rows of the table; n_min, n_max: n-gram lengths; seed: the
    initial table's random seed.
    """

    def __init__(self, dim=50, n_buckets=2**15, n_min=3, n_max=5, seed=0):
        if not 1 <= n_min <= n_max:
            raise ValueError(f"need 1 <= n_min <= n_max, got n_min={n_min}, n_max={n_max}")
        self.dim, self.n_buckets, self.n_min, self.n_max = dim, n_buckets, n_min, n_max
        self.table = np.random.default_rng(seed).normal(0.0, 0.1, (n_buckets, dim))
        self._cache = {}

    def ngrams(self, word):
        """Return the character n-grams of "<word>" (all of it if shorter than n_min)."""
        w = f"<{word}>"
        grams = [w[i:i + n] for n in range(self.n_min, self.n_max + 1) for i in range(len(w) - n + 1)]
        return grams or [w]

    def buckets(self, word):
        """Return the table rows of a word's n-grams (a list of ints)."""
        if word not in self._cache:
            self._cache[word] = [fnv1a(g.encode("utf-8")) % self.n_buckets for g in self.ngrams(word)]
        return self._cache[word]

    def batch(self, words):
        """Return (ids, weights) of shape (m, L): padded n-gram rows and 1/count weights (0 = padding)."""
        if isinstance(words, str):
            raise TypeError("batch takes a list of words; use encode(word) for one string")
        lists = [self.buckets(w) for w in words]
        width = max(len(b) for b in lists)
        ids = np.zeros((len(lists), width), dtype=np.intp)
        weights = np.zeros((len(lists), width))
        for i, b in enumerate(lists):
            ids[i, :len(b)] = b
            weights[i, :len(b)] = 1.0 / len(b)
        return ids, weights

    @staticmethod
    def encode_with(table, ids, weights):
        """Return the mean n-gram vectors (m, dim) from a table; plain numpy, so the tape can trace it."""
        return np.sum(table[ids] * weights[:, :, None], axis=1)

    def encode(self, words):
        """Return the vector of a string (shape (dim,)) or of a list of strings (shape (m, dim))."""
        if isinstance(words, str):
            return self.encode([words])[0]
        return self.encode_with(self.table, *self.batch(words))

    def fit(self, embeddings, n_words=20000, epochs=3, batch_size=256, learning_rate=0.05, seed=0,
            typos=0):
        """Train the table so that each word's encoding regresses onto its (unit) embedding vector.

        Minimizes the mean squared error ||encode(w) - e_w / ||e_w|| ||^2 over the n_words most
        frequent words with Adam on mini-batches; gradients come from the course's tape
        (``course_lib.reverse.value_and_grad``), through the table lookup's scatter-add.
        Args: embeddings: an ``Embeddings``; typos: misspellings of each word (by ``one_edit``,
        fresh every epoch) also trained onto the word's vector; the rest are the usual knobs.
        Returns: the list of mini-batch losses.
        """
        from .reverse import value_and_grad

        if embeddings.dim != self.dim:
            raise ValueError(f"the encoder has dim {self.dim} but the embeddings have {embeddings.dim}")
        n_words = min(n_words, len(embeddings))
        words = embeddings.words[:n_words]
        targets = embeddings.unit[:n_words].astype(np.float64)

        def loss(table, ids, weights, target):
            diff = NgramEncoder.encode_with(table, ids, weights) - target
            return np.sum(diff * diff) / len(target)

        loss_and_grad = value_and_grad(loss)
        rng = np.random.default_rng(seed)
        table = np.array(self.table, dtype=np.float64)
        m, v = np.zeros_like(table), np.zeros_like(table)
        beta1, beta2, eps, step, history = 0.9, 0.999, 1e-8, 0, []
        if typos < 0:
            raise ValueError(f"typos must be 0 or more, got {typos}")
        for _ in range(epochs):
            strings = list(words) + [one_edit(w, rng) for _ in range(typos) for w in words]
            of_word = np.tile(np.arange(n_words), 1 + typos)  # the word each string stands for
            order = rng.permutation(len(strings))
            for start in range(0, len(strings), batch_size):
                chosen = order[start:start + batch_size]
                ids, weights = self.batch([strings[i] for i in chosen])
                # Differentiate with respect to the rows this batch touches only (sparse updates, as
                # fastText does); inside, the lookup rows[local] is still a traced gather.
                rows, local = np.unique(ids, return_inverse=True)
                value, g = loss_and_grad(table[rows], local.reshape(ids.shape), weights,
                                         targets[of_word[chosen]])
                step += 1
                m[rows] = beta1 * m[rows] + (1 - beta1) * g
                v[rows] = beta2 * v[rows] + (1 - beta2) * g * g
                table[rows] -= learning_rate * (m[rows] / (1 - beta1**step)) / (
                    np.sqrt(v[rows] / (1 - beta2**step)) + eps)
                history.append(float(value))
        self.table = table
        return history

    def most_similar(self, word, embeddings, k=5):
        """Return the k words of ``embeddings`` nearest to the encoding of any string ``word``."""
        return embeddings.most_similar(self.encode(word), k)
