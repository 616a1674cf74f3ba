"""Raw text into sentences of Penn-Treebank-style tokens that keep their offsets in the input.

syntok finds the sentences (it knows abbreviations such as "Mr." and "U.S."); NLTK's
Treebank word tokenizer splits each one as CoNLL-2003 was split (`n't`, `'s`, hyphenated
words kept whole), and gives spans, so every token is a slice of the input.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import syntok.segmenter
from nltk.tokenize.destructive import NLTKWordTokenizer

from tagger.errors import DataError

WHITESPACE_TOKEN = re.compile(r"\S+")
_WORD_TOKENIZER = NLTKWordTokenizer()


@dataclass(frozen=True)
class Sentence:
    """Tokens and the input character offset where each starts."""

    tokens: list[str]
    starts: list[int]

    @property
    def ends(self) -> list[int]:
        return [start + len(token) for start, token in zip(self.starts, self.tokens)]


@dataclass(frozen=True)
class Line:
    """One input line: its text (line end included), its offset in the input, its sentences."""

    text: str
    start: int
    sentences: list[Sentence]


def split_sentences(text: str, offset: int = 0) -> list[Sentence]:
    """Sentences of `text`, with token offsets shifted by `offset`."""
    sentences = []
    for paragraph in syntok.segmenter.analyze(text):
        for syntok_sentence in paragraph:
            words = [token for token in syntok_sentence if token.value]
            if not words:
                continue
            begin, end = words[0].offset, words[-1].offset + len(words[-1].value)
            spans = list(_WORD_TOKENIZER.span_tokenize(text[begin:end]))
            sentences.append(Sentence([text[begin + start:begin + stop] for start, stop in spans],
                                      [begin + start + offset for start, _ in spans]))
    return sentences


def split_tokenized(text: str, offset: int = 0) -> list[Sentence]:
    """The line as one sentence of whitespace-separated tokens (none for a blank line)."""
    matches = list(WHITESPACE_TOKEN.finditer(text))
    if not matches:
        return []
    return [Sentence([m.group() for m in matches], [m.start() + offset for m in matches])]


def read_lines(stream: BinaryIO, name: str, tokenized: bool = False) -> Iterator[Line]:
    """Decode and split `stream` line by line, so input of any size streams through.

    Sentences never cross a line end. Offsets count characters from the start of the input,
    line ends (\\n or \\r\\n) included.
    """
    split = split_tokenized if tokenized else split_sentences
    offset = 0
    for line_number, raw in enumerate(stream, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(f"{name}:{line_number}: not UTF-8 text; convert the input to UTF-8 "
                            "(e.g. with iconv)") from None
        yield Line(text, offset, split(text, offset))
        offset += len(text)
