"""The CoNLL reader on generated input: whatever the bytes, it returns exactly what the file
says or a one-line error naming the file (and line), never a traceback or a silent misreading.

The default suite tries 150 inputs per property; the tests marked `fuzz` try 10,000 byte
strings and 2,000 round trips.
"""

from __future__ import annotations

import io
import itertools
import tempfile
from pathlib import Path

import datasets
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagger.core.entities import to_iob2
from tagger.core.errors import DataError
from tagger.data import corpus

SMALL, LARGE, LARGE_ROUND_TRIPS = 150, 10_000, 2_000
TYPES = ["PER", "LOC", "ORG", "MISC"]

# Tokens: any printable text without whitespace (which separates columns and lines).
token = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1,
                max_size=12).filter(lambda t: not any(c.isspace() for c in t) and not t.startswith(("-DOCSTART-", "\ufeff")))
tag = st.one_of(st.just("O"), st.builds(lambda prefix, kind: f"{prefix}-{kind}", st.sampled_from("BI"),
                                        st.sampled_from(TYPES)))
sentences = st.lists(st.lists(st.tuples(token, tag), min_size=1, max_size=8), min_size=1, max_size=6)
separators = st.sampled_from([" ", "\t"])
# Bytes that look like CoNLL often enough to reach the deep checks, and noise.
conll_like_line = st.one_of(
    st.builds(lambda t, s, g: f"{t}{s}{g}", token, separators, tag),
    st.builds(lambda t, s, g: f"{t}{s}NN{s}{g}", token, separators, tag),
    st.sampled_from(["", " ", "-DOCSTART- -X- O", "a", "a b c d e", "x B-", "x I-per", "x\tO\t", "x O\ry O"]))
conll_like = st.lists(conll_like_line, max_size=12).map(lambda lines: "\n".join(lines).encode())
noise = st.one_of(st.binary(max_size=200), conll_like,
                  st.builds(lambda text, raw: text + raw, conll_like, st.binary(max_size=8)))


@pytest.fixture(scope="module")
def files():
    """One directory for the module's generated files (each removed once read), with a datasets
    cache of its own: every file read leaves a cache entry."""
    with tempfile.TemporaryDirectory(prefix="tagger-fuzz-") as directory:
        previous, datasets.config.HF_DATASETS_CACHE = datasets.config.HF_DATASETS_CACHE, Path(directory) / "cache"
        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
        yield Path(directory)
        datasets.config.HF_DATASETS_CACHE = previous


NAMES = itertools.count()


def read(files: Path, content: bytes) -> tuple[Path, list[list[str]], list[list[str]]] | tuple[Path, DataError]:
    path = files / f"sample-{next(NAMES)}.conll"  # a new name each time: datasets caches by path
    path.write_bytes(content)
    try:
        dataset, _ = corpus.load_split(str(path))
        return path, dataset["tokens"], corpus.tag_sequences(dataset)
    except DataError as error:
        return path, error
    finally:
        path.unlink()


def expected_reading(content: bytes) -> tuple[list[list[str]], list[list[str]]]:
    """What the file says, read independently: a byte-order mark is dropped; lines end at \\n,
    \\r\\n or \\r; first column token, last column tag; blank lines end sentences; -DOCSTART-
    lines, and lines starting with # before a sentence whose last column is no tag, are
    skipped; IOB1 is read as IOB2."""
    tokens, tags, sentence = [], [], []
    for line in io.TextIOWrapper(io.BytesIO(content), encoding="utf-8-sig"):  # universal line ends
        fields = line.split()
        if line.startswith("-DOCSTART-"):
            continue
        if fields and not sentence and fields[0].startswith("#") and not is_tag(fields[-1]):
            continue
        if not fields:
            if sentence:
                tokens.append([t for t, _ in sentence])
                tags.append(to_iob2([g for _, g in sentence]))
                sentence = []
            continue
        sentence.append((fields[0], fields[-1]))
    if sentence:
        tokens.append([t for t, _ in sentence])
        tags.append(to_iob2([g for _, g in sentence]))
    return tokens, tags


def is_tag(text: str) -> bool:
    return text == "O" or (len(text) > 2 and text[0] in "BIESUL" and text[1] == "-"
                           and not any(c.isspace() for c in text))


def check_any_bytes(files: Path, content: bytes) -> None:
    path, *result = read(files, content)
    if isinstance(result[0], DataError):
        message = str(result[0])
        assert message.startswith(f"{path}:") and "\n" not in message, message
        return
    assert tuple(result) == expected_reading(content)


def check_round_trip(files: Path, written: list[list[tuple[str, str]]], separator: str) -> None:
    text = "".join("".join(f"{t}{separator}{g}\n" for t, g in sentence) + "\n" for sentence in written)
    path, *result = read(files, text.encode())
    assert not isinstance(result[0], DataError), result[0]
    tokens, tags = result
    assert tokens == [[t for t, _ in sentence] for sentence in written]
    assert tags == [to_iob2([g for _, g in sentence]) for sentence in written]


QUICK = settings(max_examples=SMALL, deadline=None, suppress_health_check=[HealthCheck.too_slow])
THOROUGH = settings(max_examples=LARGE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
THOROUGH_ROUND_TRIPS = settings(THOROUGH, max_examples=LARGE_ROUND_TRIPS)


@QUICK
@given(noise)
def test_any_bytes_parse_faithfully_or_fail_in_one_line(files, content):
    check_any_bytes(files, content)


@QUICK
@given(sentences, separators)
def test_sentences_written_out_read_back_identical(files, written, separator):
    check_round_trip(files, written, separator)


@pytest.mark.fuzz
@THOROUGH
@given(noise)
def test_any_bytes_fuzzed_at_length(files, content):
    check_any_bytes(files, content)


@pytest.mark.fuzz
@THOROUGH_ROUND_TRIPS
@given(sentences, separators)
def test_round_trip_fuzzed_at_length(files, written, separator):
    check_round_trip(files, written, separator)
