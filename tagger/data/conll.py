"""CoNLL files: a token per line, its tag in the last column, a blank line after each sentence;
read line by line, each line checked, into `datasets`' memory-mapped Arrow cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import datasets

from tagger.core.entities import TAG, TAG_HELP
from tagger.core.errors import DataError, TaggerError, causes, plural
from tagger.data.text import DOCSTART


def sentence_features() -> datasets.Features:
    """Sentences as every reader gives them: tokens and their tags, both strings."""
    return datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                              "ner_tags": datasets.Sequence(datasets.Value("string"))})


def read_conll_file(path: Path) -> datasets.Dataset:
    """One CoNLL file, checked line by line as it is read, into datasets' Arrow cache."""
    stat = path.stat()
    # `identity` keys datasets' cache: the same file unchanged is read once, an edited one again.
    identity = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    try:
        return datasets.Dataset.from_generator(_conll_sentences, features=sentence_features(),
                                               gen_kwargs={"path": str(path), "identity": identity})
    except datasets.exceptions.DatasetGenerationError as error:
        reason = next((cause for cause in causes(error) if isinstance(cause, TaggerError)), None)
        if reason is None:
            raise
        raise reason from None


def _conll_sentences(path: str, identity: str) -> Iterator[dict]:
    tokens: list[str] = []
    tags: list[str] = []
    first: tuple[int, int, bool] | None = None  # the first token line's number, columns and odd spaces
    try:
        # utf-8-sig drops a byte-order mark; text mode ends a line at \n, \r\n or \r.
        with open(path, encoding="utf-8-sig") as file:
            for number, line in enumerate(file, 1):
                if line.startswith(DOCSTART):
                    continue
                fields = line.split()
                if not fields:
                    if tokens:
                        yield {"tokens": tokens, "ner_tags": tags}
                        tokens, tags = [], []
                    continue
                if not tokens and fields[0].startswith("#") and not TAG.match(fields[-1]):
                    continue  # a comment, such as MultiCoNER's `# id ...`
                if first is None:
                    if len(fields) < 2:
                        raise DataError(f"{path}:{number}: one column; expected a token first and its tag "
                                        "last, separated by spaces or tabs")
                    first = (number, len(fields), _odd_space(line))
                if len(fields) != first[1]:
                    odd = " (it holds" if _odd_space(line) else f" (line {first[0]} holds" if first[2] else ""
                    if odd:
                        odd += " a Unicode space, which separates columns as a space does)"
                    raise DataError(f"{path}:{number}: {plural(len(fields), 'column')}, expected {first[1]} like line "
                                    f"{first[0]}{odd}; put the token first and the tag last")
                if not TAG.match(fields[-1]):
                    raise DataError(f"{path}:{number}: '{fields[-1]}' is not a tag; {TAG_HELP}")
                tokens.append(fields[0])
                tags.append(fields[-1])
    except UnicodeDecodeError:
        with open(path, "rb") as file:
            compressed = file.read(2) == b"\x1f\x8b"
        if compressed:
            raise DataError(f"{path}: a gzip-compressed file; decompress it first (gunzip)") from None
        raise DataError(f"{path}:{_first_undecodable_line(Path(path))}: not UTF-8 text; convert the file to "
                        "UTF-8 (e.g. with iconv)") from None
    if tokens:
        yield {"tokens": tokens, "ner_tags": tags}
    elif first is None:
        raise DataError(f"{path}: no sentences; expected one token per line with its tag in the last column "
                        "and a blank line after each sentence")


def _odd_space(line: str) -> bool:
    """Whether `line` holds a space other than a plain one or a tab (one a reader cannot see)."""
    return any(char.isspace() and char not in " \t\r\n" for char in line)


def _first_undecodable_line(path: Path) -> int:
    with path.open("rb") as file:
        for line_number, raw in enumerate(file, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return line_number
    return 1
