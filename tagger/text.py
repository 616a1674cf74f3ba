"""Raw text into sentences of Penn-Treebank-style tokens that keep their offsets in the input.

syntok finds the sentences (it knows abbreviations such as "Mr." and "U.S."); NLTK's
Treebank word tokenizer splits each one as CoNLL-2003 was split (`n't`, `'s`, hyphenated
words kept whole), and gives spans, so every token is a slice of the input.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import syntok.segmenter
from nltk.tokenize.destructive import NLTKWordTokenizer

from tagger.errors import DataError

WHITESPACE_TOKEN = re.compile(r"\S+")
MAX_PIECE_BYTES = 1 << 16  # longer lines are read in pieces of at most this size, cut at a space
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

    A line longer than MAX_PIECE_BYTES comes as several Lines, cut after a space where there
    is one. Sentences never cross a line end or such a cut. Offsets count characters from
    the start of the input, line ends (\\n or \\r\\n) included.
    """
    split = split_tokenized if tokenized else split_sentences
    offset, line_number = 0, 1
    try:
        for text in _pieces(stream):
            yield Line(text, offset, split(text, offset))
            offset += len(text)
            line_number += text.endswith("\n")
    except UnicodeDecodeError:
        raise DataError(f"{name}:{line_number}: not UTF-8 text; convert the input to UTF-8 "
                        "(e.g. with iconv)") from None


def _pieces(stream: BinaryIO) -> Iterator[str]:
    """The stream's lines, decoded, a long one in pieces: memory stays bounded whatever the
    line length. A piece of a long line ends after its last space or tab, if it has one."""
    decoder = codecs.getincrementaldecoder("utf-8")()  # holds a character cut between two reads
    carried = ""
    while True:
        raw = stream.readline(MAX_PIECE_BYTES)
        text = carried + decoder.decode(raw, final=not raw)
        if not text:
            return
        carried = ""
        if len(raw) == MAX_PIECE_BYTES and not text.endswith("\n"):  # the line goes on
            cut = max(text.rfind(" "), text.rfind("\t")) + 1
            if cut > 0:
                text, carried = text[:cut], text[cut:]
        yield text
