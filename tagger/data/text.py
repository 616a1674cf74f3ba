"""Raw text into sentences of Penn-Treebank-style tokens that keep their offsets in the input.

One regular expression splits a line as CoNLL-2003 was split (`did n't`, `Ada 's`,
`Anglo-Dutch` and `U.S.` whole, punctuation on its own); a sentence ends at a standalone
`.`, `!` or `?` (with any closing quotes or brackets after it) that is not followed by a
lower-case word. Every token is a slice of the input.
"""

from __future__ import annotations

import codecs
import itertools
import re
import select
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import BinaryIO

from tagger.core.entities import TAG
from tagger.core.errors import DataError, TaggerError

DOCSTART = "-DOCSTART-"

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
    """A piece of input: its text (line end included), where it starts (a character offset and a
    1-based line number) and its sentences, whose token offsets index `text`. CoNLL input gives a
    Line per sentence, whose `text` is its tokens joined by spaces, and keeps the input's `rows`."""

    text: str
    start: int
    number: int
    sentences: list[Sentence]
    rows: tuple[str, ...] = ()
    first_sentence: int = 0  # the index of its first sentence on its input line, which a long line shares


def split_sentences(text: str) -> list[Sentence]:
    """Sentences of `text`, their token offsets indexing it."""
    matches = list(TOKEN.finditer(text))
    tokens = [match.group() for match in matches]
    starts = [match.start() for match in matches]
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


def joined_sentence(tokens: list[str]) -> Sentence:
    """The tokens as a sentence of the text they make joined by single spaces."""
    starts = itertools.accumulate((len(token) + 1 for token in tokens[:-1]), initial=0)
    return Sentence(tokens, list(starts)[:len(tokens)])


def split_tokenized(text: str) -> list[Sentence]:
    """The line as one sentence of whitespace-separated tokens (none for a blank line)."""
    matches = list(WHITESPACE_TOKEN.finditer(text))
    if not matches:
        return []
    return [Sentence([m.group() for m in matches], [m.start() for m in matches])]


class Input:
    """A binary stream read in chunks as they arrive, so that its reader can tell whether more
    input is waiting or it would have to wait for it (then what it holds is worth tagging now)."""

    CHUNK_BYTES = 1 << 16

    def __init__(self, stream: BinaryIO):
        self._read = getattr(stream, "read1", stream.read)  # read1: what has arrived, without waiting for more
        try:
            self._descriptor: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):  # an in-memory stream: all of it is waiting
            self._descriptor = None
        self._buffer, self._position, self._ended = b"", 0, False

    def pieces(self) -> Iterator[bytes]:
        """The stream's lines, a long one in pieces of at most MAX_PIECE_BYTES, each cut after its
        last space or tab if it has one: memory stays bounded whatever the line length."""
        while True:
            buffer, position = self._buffer, self._position
            end = buffer.find(b"\n", position, position + MAX_PIECE_BYTES) + 1
            if not end and len(buffer) - position >= MAX_PIECE_BYTES:
                limit = position + MAX_PIECE_BYTES
                end = max(buffer.rfind(b" ", position, limit), buffer.rfind(b"\t", position, limit)) + 1 or limit
            if not end and self._ended:
                if position == len(buffer):
                    return
                end = len(buffer)
            if not end:
                chunk = self._read(self.CHUNK_BYTES)
                self._buffer, self._position, self._ended = buffer[position:] + chunk, 0, not chunk
                continue
            self._position = end
            yield buffer[position:end]

    def waiting(self) -> bool:
        """Whether another line can be read at once, or the input has ended."""
        if self._ended or self._descriptor is None or self._buffer.find(b"\n", self._position) >= 0:
            return True
        try:
            return bool(select.select([self._descriptor], [], [], 0)[0])
        except (OSError, ValueError):  # a stream select cannot watch: read on as if it were a file
            return True


def open_input(path: Path | None) -> BinaryIO:
    """The file to read, or stdin (None); a directory or a closed stdin is refused before any work."""
    if path is None:
        if sys.stdin is None:
            raise TaggerError("stdin is closed; pipe text to tagger predict, or give a file with --input")
        return sys.stdin.buffer
    if path.is_dir():
        raise TaggerError(f"{path}: a directory; give a text file with --input (or pipe text to stdin)")
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise TaggerError(f"{path}: no such file; give a text file with --input or pipe text to stdin") from None


def read_lines(stream: Input | BinaryIO, name: str, input_format: str = "text") -> Iterator[Line]:
    """Decode and split `stream` line by line, so input of any size streams through.

    `input_format` is text (sentences found by the tokenizer), tokenized (a line is a sentence
    of space-separated tokens) or conll (a token per line, in the first of its columns, and a
    blank line after each sentence). A line longer than MAX_PIECE_BYTES comes as several
    Lines, cut after a space where there is one; sentences never cross a line end or such a cut.
    Line offsets count characters from the start of the input (a byte-order mark dropped), line
    ends (\\n or \\r\\n) included.
    """
    source = stream if isinstance(stream, Input) else Input(stream)
    decoder = codecs.getincrementaldecoder("utf-8-sig")()  # a byte-order mark, as Windows editors write, is dropped
    offset, number = 0, 1

    def texts() -> Iterator[tuple[str, int, int]]:
        nonlocal offset, number
        for piece in source.pieces():
            text = decoder.decode(piece)
            yield text, offset, number
            offset += len(text)
            number += text.endswith("\n")
        if tail := decoder.decode(b"", final=True):  # a character cut off at the very end
            yield tail, offset, number

    try:
        if input_format == "conll":
            yield from _conll_lines(texts())
        else:
            split = split_tokenized if input_format == "tokenized" else split_sentences
            sentences_before = 0  # on this input line, in the pieces of a long one read so far
            carried = ""  # a cut piece's unfinished last sentence, read again with the next piece
            for text, start, line_number in texts():
                text, start = carried + text, start - len(carried)
                sentences, carried = split(text), ""
                if not text.endswith("\n") and len(sentences) > 1 and input_format == "text":
                    cut = sentences[-1].starts[0]
                    if len(text) - cut < MAX_PIECE_BYTES:  # else the sentence is cut: memory stays bounded
                        text, carried, sentences = text[:cut], text[cut:], sentences[:-1]
                line = Line(text, start, line_number, sentences, first_sentence=sentences_before)
                sentences_before = 0 if text.endswith("\n") else sentences_before + len(line.sentences)
                yield line
            if carried:  # the input ended inside a long line
                yield Line(carried, offset - len(carried), number, split(carried), first_sentence=sentences_before)
    except UnicodeDecodeError:
        raise DataError(f"{name}:{number}: not UTF-8 text; convert the input to UTF-8 (e.g. with iconv)") from None


def _conll_lines(texts: Iterable[tuple[str, int, int]]) -> Iterator[Line]:
    """A Line per sentence of token rows, and one for each row around them (blank, -DOCSTART-,
    a `#` comment), so the rows come back as they were read."""
    rows: list[str] = []
    first = (0, 1)

    def sentence() -> Line:
        tokens = [row.split()[0] for row in rows]
        return Line(" ".join(tokens) + "\n", *first, [joined_sentence(tokens)], tuple(rows))

    for text, start, number in _rows(texts):
        fields = text.split()
        if fields and fields[0] != DOCSTART and not (not rows and _is_comment(fields)):
            if not rows:
                first = (start, number)
            rows.append(text)
            continue
        if rows:
            yield sentence()
            rows = []
        yield Line("", start, number, [], (text,))
    if rows:
        yield sentence()


ROW = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+$")


def _rows(texts: Iterable[tuple[str, int, int]]) -> Iterator[tuple[str, int, int]]:
    """The rows of the pieces, whole, with their offsets and numbers: a lone \\r ends a row as \\n
    does, as when a CoNLL file is read for training."""
    unfinished: tuple[str, int] | None = None  # a row cut where a long line was read in pieces
    number = 1
    for text, start, _ in texts:
        if unfinished is not None:
            text, start = unfinished[0] + text, unfinished[1]
            unfinished = None
        for match in ROW.finditer(text):
            row = match.group()
            if not row.endswith(("\r", "\n")):
                unfinished = (row, start + match.start())
                break
            yield row, start + match.start(), number
            number += 1
    if unfinished is not None:
        yield *unfinished, number


def _is_comment(fields: list[str]) -> bool:
    """A `#` line before a sentence (a corpus's `# id ...`), unless it ends in a tag: then `#` is a token."""
    return fields[0].startswith("#") and not (len(fields) > 1 and TAG.match(fields[-1]))
