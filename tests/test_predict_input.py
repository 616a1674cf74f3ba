"""predict on input meant to break it: every line comes back, every offset is exact, memory
stays bounded on a line of any length, and bytes that are not UTF-8 are refused by line."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading

import pytest
from conftest import says
from typer.testing import CliRunner

from tagger.cli import app
from tagger.data import text

runner = CliRunner()


@pytest.fixture(scope="module")
def model(small_model):
    return small_model


def predict(model, data: bytes, *options: str):
    result = runner.invoke(app, ["predict", "--model", str(model), *options], input=data)
    assert result.exit_code == 0, result.output
    return result.stdout_bytes.decode("utf-8")


def assert_offsets_exact(data: bytes, jsonl: str) -> list[dict]:
    """Every entity's and token's offsets point at its text in the input."""
    source = data.decode("utf-8")
    records = [json.loads(line) for line in jsonl.splitlines()]
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
    records = assert_offsets_exact(data, predict(model, data, "--format", "jsonl"))
    assert bool(records) == bool(data.strip())
    inline = predict(model, data, "--format", "inline")
    assert re.sub(r"\[([^\]]*)\]\((PER|LOC|ORG)\)", r"\1", inline) == data.decode()  # the input comes back whole


def test_a_line_longer_than_a_piece_is_read_in_pieces_cut_after_a_space(model):
    piece = text.MAX_PIECE_BYTES
    blob = ("x" * (3 * piece + 100)).encode()  # no space to cut at
    records = assert_offsets_exact(blob, predict(model, blob, "--format", "jsonl"))
    assert [len(token) for r in records for token in r["tokens"]] == [piece, piece, piece, 100]

    words = (WORDS * (3 * piece // len(WORDS))).encode()
    lines = list(text.read_lines(io.BytesIO(words), "<stdin>"))
    # A piece hands its unfinished sentence on to the next: each ends after a whole sentence.
    assert len(lines) > 1 and all(len(line.text.encode()) <= piece + len(WORDS) for line in lines)
    assert all(line.text.endswith(". ") for line in lines)
    records = assert_offsets_exact(words, predict(model, words, "--format", "jsonl"))
    assert sum(len(r["tokens"]) for r in records) == len(words.split())


def test_bytes_that_are_not_utf8_are_refused_with_the_line_after_the_lines_before_are_tagged(model):
    data = b"Ada met Ivo .\nLina \xff\xfe visited Arlo .\n"
    result = runner.invoke(app, ["predict", "--model", str(model)], input=data)
    assert result.exit_code == 2
    says(result, "<stdin>:2", "not UTF-8 text")
    assert [row.split("\t")[0] for row in result.stdout.split("\n") if row] == ["Ada", "met", "Ivo", "."]


def peak_rss_mb(model, block: bytes, megabytes: int) -> float:
    """Peak RSS of `tagger predict --tokenized` with `block` piped in, repeated to `megabytes`."""
    process = subprocess.Popen([sys.executable, "-m", "tagger", "predict", "--model", str(model), "--format",
                                "jsonl", "--tokenized"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    deadline = threading.Timer(600, process.kill)
    deadline.start()
    try:
        with process.stdin:
            for _ in range(megabytes * (1 << 20) // len(block) + 1):
                process.stdin.write(block)
        _, status, usage = os.wait4(process.pid, 0)  # wait4: this child's own peak RSS
    finally:
        deadline.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait
    assert process.returncode == 0
    return usage.ru_maxrss / 1024


@pytest.mark.slow
def test_a_50_mb_stream_runs_in_the_memory_of_a_1_mb_one(model):
    from conftest import make_sentences

    block = "".join(" ".join(token for token, _ in sentence) + "\n"
                    for sentence in make_sentences(500, seed=4)).encode()
    # --tokenized: the tokenizer holds one line at a time, and raw text would take minutes more
    short, long = peak_rss_mb(model, block, 1), peak_rss_mb(model, block, 50)
    assert long <= 1.5 * short, (short, long)
