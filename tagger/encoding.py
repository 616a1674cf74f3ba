"""Vocabularies, the tag set, and sentences turned into padded id tensors."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

PAD = "<pad>"
UNK = "<unk>"
PAD_ID, UNK_ID = 0, 1
PAD_TAG_ID = -100  # cross_entropy's default ignore_index
MAX_WORD_CHARS = 30  # a longer token is cut: its features come from its first 30 characters
DIGIT = re.compile(r"\d")


def normalise_word(token: str) -> str:
    """The key a token's word vector is stored under: lower case, every digit 0."""
    return DIGIT.sub("0", token.lower())


class Vocabulary:
    """Strings and their ids; with `unknown`, strings not in it map to UNK_ID."""

    def __init__(self, items: Iterable[str], unknown: bool = True):
        reserved = [PAD, UNK] if unknown else []
        self.items = reserved + [item for item in dict.fromkeys(items) if item not in reserved]
        self.unknown = unknown
        self.ids = {item: index for index, item in enumerate(self.items)}

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, item: str) -> bool:
        return item in self.ids

    def id(self, item: str) -> int:
        return self.ids.get(item, UNK_ID) if self.unknown else self.ids[item]

    def to_dict(self) -> dict:
        return {"items": self.items, "unknown": self.unknown}

    @classmethod
    def from_dict(cls, data: dict) -> Vocabulary:
        vocabulary = cls([], unknown=False)
        vocabulary.items, vocabulary.unknown = list(data["items"]), bool(data["unknown"])
        vocabulary.ids = {item: index for index, item in enumerate(vocabulary.items)}
        return vocabulary


@dataclass
class Batch:
    """Padded ids of a batch of sentences.

    Character ids are stored once per distinct token of the batch: `token_forms` points
    each position at its row of `char_ids`, so the character model runs once per form.
    """

    word_ids: torch.Tensor  # (batch, seq)
    token_forms: torch.Tensor  # (batch, seq) row of char_ids for each token
    char_ids: torch.Tensor  # (forms, chars)
    lengths: torch.Tensor  # (batch,) on the CPU, as pack_padded_sequence wants
    tag_ids: torch.Tensor | None  # (batch, seq), PAD_TAG_ID on padding

    def to(self, device: torch.device) -> Batch:
        return Batch(self.word_ids.to(device), self.token_forms.to(device), self.char_ids.to(device),
                     self.lengths, None if self.tag_ids is None else self.tag_ids.to(device))



@dataclass
class Encoder:
    """Maps tokens and tags to ids, with vocabularies built from the training split only."""

    words: Vocabulary
    chars: Vocabulary
    tags: Vocabulary

    @classmethod
    def build(cls, sentences: Sequence[Sequence[str]], tag_names: Sequence[str],
              pretrained_words: Iterable[str] = ()) -> Encoder:
        """Words of the training sentences, then pretrained words the model keeps for unseen text."""
        words = Vocabulary([normalise_word(token) for sentence in sentences for token in sentence]
                           + list(pretrained_words))
        chars = Vocabulary(char for sentence in sentences for token in sentence for char in token)
        tags = Vocabulary(tag_names, unknown=False)
        return cls(words, chars, tags)

    def encode(self, sentences: Sequence[Sequence[str]],
               tag_sequences: Sequence[Sequence[str]] | None = None) -> Batch:
        """Pad a batch of sentences (and their tags, for training) into tensors."""
        lengths = [len(sentence) for sentence in sentences]
        seq_len = max(lengths)
        word_ids = torch.full((len(sentences), seq_len), PAD_ID, dtype=torch.long)
        token_forms = torch.zeros((len(sentences), seq_len), dtype=torch.long)
        forms: dict[str, int] = {}
        for row, sentence in enumerate(sentences):
            word_ids[row, :len(sentence)] = torch.tensor([self.words.id(normalise_word(t)) for t in sentence])
            token_forms[row, :len(sentence)] = torch.tensor([forms.setdefault(t, len(forms)) for t in sentence])
        char_len = min(MAX_WORD_CHARS, max(len(form) for form in forms))
        char_ids = torch.full((len(forms), char_len), PAD_ID, dtype=torch.long)
        for form, row in forms.items():
            ids = [self.chars.id(char) for char in form[:char_len]]
            char_ids[row, :len(ids)] = torch.tensor(ids)
        tag_ids = None
        if tag_sequences is not None:
            tag_ids = torch.full((len(sentences), seq_len), PAD_TAG_ID, dtype=torch.long)
            for row, tags in enumerate(tag_sequences):
                tag_ids[row, :len(tags)] = torch.tensor([self.tags.id(tag) for tag in tags])
        return Batch(word_ids, token_forms, char_ids, torch.tensor(lengths), tag_ids)

    def decode(self, tag_ids: Sequence[int]) -> list[str]:
        return [self.tags.items[i] for i in tag_ids]

    def to_dict(self) -> dict:
        return {"words": self.words.to_dict(), "chars": self.chars.to_dict(), "tags": self.tags.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> Encoder:
        return cls(*(Vocabulary.from_dict(data[key]) for key in ("words", "chars", "tags")))
