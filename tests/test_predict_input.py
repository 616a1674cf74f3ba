"""predict on input meant to break it: every line comes back, every offset is exact, memory
stays bounded on a line of any length, and bytes that are not UTF-8 are refused by line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tagger import text


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from conftest import train_small

    return train_small(tmp_path_factory.mktemp("hostile"), "softmax")[1]


def predict(model, data: bytes, *options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tagger", "predict", "--model", str(model), *options],
                          input=data, capture_output=True, timeout=600)


def assert_offsets_exact(data: bytes, jsonl: bytes) -> list[dict]:
    """Every entity's and token's offsets point at its text in the input."""
    source = data.decode("utf-8")
    records = [json.loads(line) for line in jsonl.decode("utf-8").splitlines()]
    for record in records:
        for entity in record["entities"]:
            assert source[entity["start"]:entity["end"]] == entity["text"]
        assert record["text"] in source
    return records


WORDS = "Ada Brandt met Tomas Wey in Velden on Monday and Norvik Bank said so . "
CASES = {
    "empty": b"",
    "blank lines": b"\n\n \n\t\n",
    "crlf": b"Ada Brandt met Tomas Wey in Velden .\r\n\r\nLina Okoro visited Port Arlo .\r\n",
    "mixed scripts": ("Ada Brandt met 習近平 in 北京 . مرحبا Lina Okoro 😀 visited Port Arlo .\n"
                      "Zoe\u0301 and Ren\u00e9e met Tomas\u200bWey in Velden\u200d.\n").encode(),
    "no final newline": b"Ada Brandt met Tomas Wey in Velden",
}


@pytest.mark.parametrize("case", CASES)
def test_odd_input_is_tagged_with_exact_offsets(model, case):
    data = CASES[case]
    result = predict(model, data, "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    records = assert_offsets_exact(data, result.stdout)
    assert bool(records) == bool(data.strip())
    inline = predict(model, data, "--format", "inline").stdout.decode()
    for marker in ("](PER)", "](LOC)", "](ORG)"):
        inline = inline.replace(marker, "")
    assert inline.replace("[", "") == data.decode()  # the input comes back whole


def test_megabyte_line_without_spaces_and_five_megabyte_line_of_words(model):
    blob = ("x" * (1 << 20)).encode()
    result = predict(model, blob, "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    records = assert_offsets_exact(blob, result.stdout)
    assert sum(len(token) for r in records for token in r["tokens"]) == len(blob)

    words = (WORDS * (5 * (1 << 20) // len(WORDS))).encode()
    result = predict(model, words, "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    records = assert_offsets_exact(words, result.stdout)
    assert max(len(r["tokens"]) for r in records) <= text.MAX_PIECE_BYTES // 2
    assert sum(len(r["tokens"]) for r in records) == len(words.split())


def test_bytes_that_are_not_utf8_are_refused_with_the_line(model):
    result = predict(model, b"Ada met Ivo .\nLina \xff\xfe visited Arlo .\n")
    assert result.returncode == 2
    assert result.stderr.decode().strip() == "error: <stdin>:2: not UTF-8 text; convert the input to UTF-8 " \
                                            "(e.g. with iconv)"


@pytest.mark.slow
def test_a_50_mb_stream_runs_in_the_memory_of_a_1_mb_one(model):
    from benchmarks.stream_memory import measure, text_block
    from conftest import make_sentences

    block = text_block([token for token, _ in sentence] for sentence in make_sentences(500, seed=4))
    # --tokenized: the tokenizer holds one line at a time, and raw text would add ~4 minutes to CI
    short = measure(model, block, 1, tokenized=True)
    long = measure(model, block, 50, tokenized=True)
    assert long.peak_rss_mb <= 1.5 * short.peak_rss_mb, (short, long)
