"""Raw text into sentences of Penn-Treebank-style tokens that keep their offsets in the input.

One regular expression splits a line as CoNLL-2003 was split (`did n't`, `Ada 's`,
`Anglo-Dutch` and `U.S.` whole, punctuation on its own); a sentence ends at a standalone
`.`, `!` or `?` (with any closing quotes or brackets after it) that is not followed by a
lower-case word. Every token is a slice of the input.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import BinaryIO

from tagger.errors import DataError

WHITESPACE_TOKEN = re.compile(r"\S+")
MAX_PIECE_BYTES = 1 << 16  # longer lines are read in pieces of at most this size, cut at a space

# Abbreviations that keep their period; a period after any other word is a token of its own.
# Ones that are also words ("No", "Sun", "Mass") keep it only before a number: No. 5, Vol. 3.
ABBREVIATIONS = (
    "Mr Mrs Ms Dr Prof Sr Jr St Mt Ft Gen Col Lt Capt Cmdr Sgt Gov Sen Rep Rev Hon Pres Supt "
    "Inc Corp Co Ltd Bros Cie Jan Feb Apr Aug Sep Sept Oct Nov Dec Tue Thu Fri vs etc approx "
    "Ave Blvd Rd Ariz Calif Colo Conn Fla Kan Ky Md Mich Minn Neb Nev Okla Ore Tenn Tex Vt Wis Wyo"
).split()
WORD_ABBREVIATIONS = "No Nos Vol Fig Mar Jun Jul Mon Sat Sun Ga Ill Ind La Mass Miss Mo Mont Pa Va Wash".split()
CLITIC = r"(?:[sSdDmM]|re|RE|ve|VE|ll|LL)\b"
SPLIT = r"\s()\[\]{}\"\u201c\u201d\u2018\u2019';:,!?.%"  # characters that end a word, except as below
TOKEN = re.compile("|".join([
    r"(?:[A-Za-z]\.){2,}(?![\w-])",  # initialisms: U.S., e.g.
    r"(?:%s)\.(?!\w)" % "|".join(ABBREVIATIONS),
    r"(?:%s)\.(?=\s+\d)" % "|".join(WORD_ABBREVIATIONS),
    r"[A-Z]\.(?=\s+[A-Z])",  # an initial before a name: J. Smith
    r"^\d{1,3}\.(?=\s)",  # a list's number at the start of a line: 1.
    r"\w+(?=[nN]['\u2019][tT]\b)",  # did|n't
    r"[nN]['\u2019][tT]\b",
    rf"['\u2019]{CLITIC}",  # Ada|'s, they|'re
    r"[$\u00a3\u20ac](?=\d)",  # $|5
    # Anything else up to a space or a splitting character, which a word keeps only inside it
    # ("3.5", "1,000", "http://x.org", O'Neill), or as the period of a final initial (Russian-U.S.).
    rf"(?:[^{SPLIT}]|[.,:](?=[^{SPLIT}])|(?<=\w)['\u2019](?!{CLITIC})(?=\w))+(?:(?<=\.[A-Za-z])\.)?",
    r"\.\.\.|[?!]+",
    r"\S",
]))
SENTENCE_END = frozenset([".", "..."])  # and any run of ? and !
CLOSING = frozenset(['"', "'", ")", "]", "}", "\u2019", "\u201d"])

@dataclass(frozen=True)
class Sentence:
    """Tokens and the input character offset where each starts."""

    tokens: list[str]
    starts: list[int]

    @cached_property
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
    matches = list(TOKEN.finditer(text))
    tokens = [match.group() for match in matches]
    starts = [match.start() + offset for match in matches]
    sentences, first = [], 0
    for index, token in enumerate(tokens):
        if token in SENTENCE_END or token[0] in "?!":
            last = index
            while last + 1 < len(tokens) and tokens[last + 1] in CLOSING:
                last += 1
            if last + 1 < len(tokens) and tokens[last + 1][0].islower():
                continue  # "e.g. this", "... and then": the sentence goes on
            sentences.append(Sentence(tokens[first:last + 1], starts[first:last + 1]))
            first = last + 1
    if first < len(tokens):
        sentences.append(Sentence(tokens[first:], starts[first:]))
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
