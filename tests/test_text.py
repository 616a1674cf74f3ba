"""Raw text into sentences and tokens whose offsets point into the input."""

from __future__ import annotations

import io

import pytest

from tagger.core.errors import DataError
from tagger.data.text import read_lines, split_sentences


def test_penn_treebank_tokens():
    [first, second] = split_sentences("The U.S. team didn't win Ada's prize. Mr. Lund left for Anglo-Dutch talks.")
    assert first.tokens == ["The", "U.S.", "team", "did", "n't", "win", "Ada", "'s", "prize", "."]
    assert second.tokens == ["Mr.", "Lund", "left", "for", "Anglo-Dutch", "talks", "."]


@pytest.mark.parametrize("text, tokens", [
    ("It cost $5.50 (about 5%), or 1,000 yen.", ["It", "cost", "$", "5.50", "(", "about", "5", "%", ")", ",",
                                              "or", "1,000", "yen", "."]),
    ("They're at the U.S.-based AT&T with O'Neill.", ["They", "'re", "at", "the", "U.S.-based", "AT&T", "with",
                                                    "O'Neill", "."]),
    ("She said 'no' -- twice...", ["She", "said", "'", "no", "'", "--", "twice", "..."]),
    ("1. Jesper Ronnback (Sweden) 25.76 points", ["1.", "Jesper", "Ronnback", "(", "Sweden", ")", "25.76", "points"]),
    ("See http://example.org/a.html now.", ["See", "http://example.org/a.html", "now", "."]),
])
def test_conll_style_tokens(text, tokens):
    assert [token for sentence in split_sentences(text) for token in sentence.tokens] == tokens


def test_sentences_end_at_end_marks_and_take_closing_quotes():
    sentences = split_sentences('He said "stop." Then J. Smith left! Did he? Yes, e.g. later.')
    assert [sentence.tokens for sentence in sentences] == [
        ["He", "said", '"', "stop", ".", '"'], ["Then", "J.", "Smith", "left", "!"], ["Did", "he", "?"],
        ["Yes", ",", "e.g.", "later", "."]]
    sentences = split_sentences("He said No. Then Mr. Lund read No. 5 aloud.")
    assert [sentence.tokens for sentence in sentences] == [["He", "said", "No", "."],
                                                           ["Then", "Mr.", "Lund", "read", "No.", "5", "aloud", "."]]


def test_offsets_index_the_whole_input_with_crlf():
    text = "Angela Merkel met Macron.\r\n\r\n\u00c9mile \"Zola\" wrote in Paris.\n"
    lines = list(read_lines(io.BytesIO(text.encode()), "<stdin>"))
    for line in lines:
        for sentence in line.sentences:
            for token, start, end in zip(sentence.tokens, sentence.starts, sentence.ends):
                assert line.text[start:end] == token == text[line.start + start:line.start + end]
    assert [len(line.sentences) for line in lines] == [1, 0, 1]


def test_tokenized_lines_split_on_whitespace():
    text = "New  York\tis big\n\n"
    lines = list(read_lines(io.BytesIO(text.encode()), "x", "tokenized"))
    assert lines[0].sentences[0].tokens == ["New", "York", "is", "big"]
    assert lines[0].sentences[0].starts == [0, 5, 10, 13]
    assert lines[1].sentences == []


def test_invalid_utf8_names_the_line():
    with pytest.raises(DataError, match="input.txt:2: not UTF-8"):
        list(read_lines(io.BytesIO(b"fine\n\xff\xfe bad\n"), "input.txt"))
