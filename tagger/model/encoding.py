"""Vocabularies, the tag set, sentences turned into padded id arrays, and which sentences
go into a training batch together. numpy only: a model exported to ONNX runs without torch."""

from __future__ import annotations

import bisect
import random
import re
import unicodedata
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

PAD = "<pad>"
UNK = "<unk>"
PAD_ID, UNK_ID = 0, 1
PAD_TAG_ID = -100  # cross_entropy's default ignore_index
MAX_WORD_CHARS = 30  # a longer token is cut: its features come from its first 30 characters
DIGIT = re.compile(r"\d")
BUCKET_BATCHES = 50  # batches drawn together and sorted by length: little padding, still random


def normalise_word(token: str) -> str:
    """The key a token's word vector is stored under: lower case, every digit 0."""
    return DIGIT.sub("0", token.lower())


# A Latin letter's name gives its base letter where Unicode has no decomposition for it (ø, ł, đ, ı).
LATIN_LETTER = re.compile(r"LATIN (SMALL|CAPITAL) LETTER (?:DOTLESS )?([A-Z])(?: WITH .*)?")
# The kinds of character an unseen one is read as one of, by its Unicode category: an upper-case
# letter, any other letter (of the Latin script, both), a digit, punctuation, a symbol.
KINDS = {"Lu": "Lu", "Lt": "Lu", "Ll": "Ll", "Lm": "Ll", "Lo": "Ll", "N": "Nd", "P": "P", "S": "S"}


def _kind(char: str) -> str | None:
    if len(char) != 1:  # the vocabulary's <pad> and <unk>
        return None
    category = unicodedata.category(char)
    return KINDS.get(category, KINDS.get(category[0]))


def base_letters(text: str) -> str:
    """`text` with each letter's marks taken off: Malmö -> Malmo, Çalhanoğlu -> Calhanoglu, ø -> o."""
    return "".join(_base_letter(char) for char in text)


def _base_letter(char: str) -> str:
    if char.isascii():
        return char
    base = unicodedata.normalize("NFD", char)[0]
    if base.isascii():
        return base
    match = LATIN_LETTER.fullmatch(unicodedata.name(char, ""))
    return char if match is None else match[2] if match[1] == "CAPITAL" else match[2].lower()


def stand_in(char: str, known: Sequence[str]) -> str | None:
    """The character of `known` (a model's, in the order training met them) that a character
    unknown to the model is read as: its base letter (Å -> A, ø -> o, İ -> I) when that is known,
    else the first known character of its kind (upper-case Latin letter, other Latin letter,
    digit, punctuation, symbol), so that the character model still sees the word's shape; None
    when there is no such character, and for the letters of other scripts."""
    base = _base_letter(char)
    if base != char and base in known:
        return base
    if char.isalpha() and not unicodedata.name(char, "").startswith("LATIN"):
        return None  # a letter of another script: read as a Latin one, it makes names where there are none
    kind = _kind(char)
    return None if kind is None else next((other for other in known if _kind(other) == kind), None)


class Vocabulary:
    """Strings and their ids; with `unknown`, strings not in it map to UNK_ID.

    The items from `sorted_from` on are in sorted order and found by bisection rather than a
    dict: a model's pretrained words that training lacks, a quarter of a million strings whose
    dict would cost more than all the rest of predict's start-up.
    """

    def __init__(self, items: Iterable[str], unknown: bool = True, sorted_from: int | None = None):
        reserved = [PAD, UNK] if unknown else []
        self._index(reserved + [item for item in dict.fromkeys(items) if item not in reserved], unknown, sorted_from)

    def _index(self, items: list[str], unknown: bool, sorted_from: int | None) -> None:
        self.items, self.unknown = items, unknown
        self.sorted_from = len(items) if sorted_from is None else sorted_from
        # dict(zip) rather than a comprehension: it is the bulk of loading a model at predict's start-up
        self.ids = dict(zip(items[:self.sorted_from], range(self.sorted_from)))

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, item: str) -> bool:
        return self._find(item) is not None

    def id(self, item: str) -> int:
        found = self._find(item)
        if found is None:
            if self.unknown:
                return UNK_ID
            raise KeyError(item)
        return found

    def _find(self, item: str) -> int | None:
        found = self.ids.get(item)
        if found is None and self.sorted_from < len(self.items):
            index = bisect.bisect_left(self.items, item, self.sorted_from)
            if index < len(self.items) and self.items[index] == item:
                return index
        return found

    def to_dict(self) -> dict:
        return {"items": self.items, "unknown": self.unknown, "sorted_from": self.sorted_from}

    @classmethod
    def from_dict(cls, data: dict) -> Vocabulary:
        """The vocabulary `to_dict` wrote; ValueError, saying what is wrong, for any other shape."""
        if not isinstance(data.get("items"), list) or not isinstance(data.get("unknown"), bool):
            raise ValueError("lacks its list of items or its unknown flag")
        if not set(map(type, data["items"])) <= {str}:  # a set of types: cheap on 400,000 words
            raise ValueError("has items that are not strings")
        sorted_from = data.get("sorted_from", len(data["items"]))  # vocabularies before format 3 have none
        if not isinstance(sorted_from, int) or not 0 <= sorted_from <= len(data["items"]):
            raise ValueError("has a sorted_from that is not a position in its items")
        vocabulary = cls.__new__(cls)
        vocabulary._index(data["items"], data["unknown"], sorted_from)
        return vocabulary


@dataclass(frozen=True)
class Batch:
    """Padded ids of a batch of sentences, as int64 arrays: what every network reads.

    Character ids are stored once per distinct token of the batch: `token_forms` points
    each position at its row of `char_ids`, so the character model runs once per form.
    """

    word_ids: np.ndarray  # (batch, seq)
    token_forms: np.ndarray  # (batch, seq) row of char_ids for each token
    char_ids: np.ndarray  # (forms, chars)
    lengths: np.ndarray  # (batch,)
    tag_ids: np.ndarray | None  # (batch, seq), PAD_TAG_ID on padding
    features: np.ndarray | None = None  # (batch, seq, layers, dim) float32: a transformer's (tagger.model.transformer)


@dataclass(frozen=True)
class TrainingText:
    """What the vocabularies need of the training sentences, gathered in one pass over them
    (they may be read from disk): normalised words with their counts, and characters, in the
    order first seen."""

    word_counts: Counter[str]
    chars: list[str]

    @classmethod
    def count(cls, sentences: Iterable[Sequence[str]]) -> TrainingText:
        word_counts, chars = Counter(), {}
        for sentence in sentences:
            word_counts.update(map(normalise_word, sentence))
            chars.update(dict.fromkeys("".join(sentence)))
        return cls(word_counts, list(chars))


@dataclass
class Encoder:
    """Maps tokens and tags to ids, with vocabularies built from the training split only.

    A word unknown to the model is looked up again with its letters' marks taken off (Malmö as
    Malmo), and an unknown character is read as a known one that stands in for it (`stand_in`).
    """

    words: Vocabulary
    chars: Vocabulary
    tags: Vocabulary

    def __post_init__(self):
        self._char_ids = dict(self.chars.ids)  # and each unknown character's stand-in's, as met

    def word_id(self, form: str) -> int:
        """The id of a token's word: its own, or that of its form without marks, or UNK_ID."""
        found = self.words.id(normalise_word(form))
        if found == UNK_ID and not form.isascii():
            return self.words.id(normalise_word(base_letters(form)))
        return found

    def char_id(self, char: str) -> int:
        found = self._char_ids.get(char)
        if found is None:
            standing = stand_in(char, self.chars.items)
            found = self._char_ids[char] = UNK_ID if standing is None else self.chars.ids[standing]
        return found

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], tag_names: Sequence[str],
              pretrained_words: Iterable[str] = ()) -> Encoder:
        """Words of the training sentences, then pretrained words the model keeps for unseen text."""
        return cls.from_counts(TrainingText.count(sentences), tag_names, pretrained_words)

    @classmethod
    def from_counts(cls, text: TrainingText, tag_names: Sequence[str], pretrained_words: Iterable[str] = ()) -> Encoder:
        """Training words (trained), then pretrained words training lacks (frozen), in sorted order."""
        trained = Vocabulary(text.word_counts)
        frozen = sorted(set(pretrained_words).difference(trained.items))
        return cls(Vocabulary([*text.word_counts, *frozen], sorted_from=len(trained)), Vocabulary(text.chars),
                   Vocabulary(tag_names, unknown=False))

    def encode(self, sentences: Sequence[Sequence[str]],
               tag_sequences: Sequence[Sequence[str]] | None = None) -> Batch:
        """Pad a batch of sentences (and their tags, for training) into tensors."""
        # Ids go into flat int64 arrays that become numpy arrays (and tensors) without a copy:
        # building them from Python lists, row by row or nested, cost more than the model's own
        # work on a batch.
        lengths = [len(sentence) for sentence in sentences]
        seq_len = max(lengths)
        forms: dict[str, int] = {}  # each distinct token once: the char model runs once per form
        sentence_forms = [[forms.setdefault(token, len(forms)) for token in sentence] for sentence in sentences]
        word_id, known_char, char_id = self.word_id, self._char_ids.get, self.char_id
        form_words = [word_id(form) for form in forms]
        word_ids, token_forms = array("q"), array("q")
        for row in sentence_forms:
            padding = [PAD_ID] * (seq_len - len(row))
            token_forms.extend(row)
            token_forms.extend(padding)
            word_ids.extend([form_words[form] for form in row])
            word_ids.extend(padding)
        char_len = min(MAX_WORD_CHARS, max(map(len, forms)))
        char_ids = array("q")
        for form in forms:
            # A known character's id is 2 or more: `or` looks up only the unknown ones' stand-ins.
            char_ids.extend([known_char(char) or char_id(char) for char in form[:char_len]])
            char_ids.extend([PAD_ID] * (char_len - len(form)))
        tag_ids = None
        if tag_sequences is not None:
            tag_id, flat_tags = self.tags.id, array("q")
            for tags in tag_sequences:
                flat_tags.extend([tag_id(tag) for tag in tags])
                flat_tags.extend([PAD_TAG_ID] * (seq_len - len(tags)))
            tag_ids = _matrix(flat_tags, seq_len)
        return Batch(_matrix(word_ids, seq_len), _matrix(token_forms, seq_len), _matrix(char_ids, char_len),
                     np.array(lengths, dtype=np.int64), tag_ids)

    def decode(self, tag_ids: Sequence[int]) -> list[str]:
        return [self.tags.items[i] for i in tag_ids]

    def to_dict(self) -> dict:
        return {"words": self.words.to_dict(), "chars": self.chars.to_dict(), "tags": self.tags.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> Encoder:
        """The encoder `to_dict` wrote; ValueError, saying what is wrong, for any other shape."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        vocabularies = []
        for key in ("words", "chars", "tags"):
            if not isinstance(data.get(key), dict):
                raise ValueError(f"no {key!r} object" if data.get(key) is None else f"{key!r} is not an object")
            try:
                vocabularies.append(Vocabulary.from_dict(data[key]))
            except ValueError as problem:
                raise ValueError(f"{key!r} {problem}") from None
        return cls(*vocabularies)


def length_bucketed_batches(lengths: Sequence[int], batch_size: int, shuffler: random.Random,
                            min_size: int = 1) -> list[list[int]]:
    """Batches of sentence indices of similar length, in random order.

    A bucket's last batch, when smaller than `min_size` (the number of processes, each of
    which needs a sentence of every batch), joins the batch before it.
    """
    order = list(range(len(lengths)))
    shuffler.shuffle(order)
    batches = []
    span = batch_size * BUCKET_BATCHES
    for first in range(0, len(order), span):
        bucket = sorted(order[first:first + span], key=lambda i: lengths[i])
        batches += [bucket[i:i + batch_size] for i in range(0, len(bucket), batch_size)]
        if len(batches) > 1 and len(batches[-1]) < min_size:
            batches[-2] += batches.pop()
    shuffler.shuffle(batches)
    return batches


def _matrix(ids: array, width: int) -> np.ndarray:
    """(rows, width) int64 array over the array's memory."""
    return np.frombuffer(ids, dtype=np.int64).reshape(-1, width)
