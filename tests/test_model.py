"""Shapes, padding and the vocabulary: what the model sees of a batch."""

from __future__ import annotations

import torch

from tagger.encoding import UNK_ID, Encoder, Vocabulary, normalise_word
from tagger.model import BiLSTMTagger, ModelConfig

SENTENCES = [["Ada", "Brandt", "visited", "Velden", "in", "1996", "."], ["Corva", "fell", "."]]
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


def build(hidden=16):
    encoder = Encoder.build(SENTENCES, TAGS, pretrained_words=["paris"])
    torch.manual_seed(0)
    config = ModelConfig(len(encoder.words), len(encoder.chars), len(encoder.tags), word_dim=8,
                         char_dim=6, char_filters=5, hidden_size=hidden)
    return encoder, BiLSTMTagger(config).eval()


def test_vocabulary_normalises_and_falls_back_to_unknown():
    encoder, _ = build()
    assert normalise_word("Berlin1996") == "berlin0000"
    assert encoder.words.id("0000") == encoder.words.id(normalise_word("1996")) != UNK_ID
    assert "paris" in encoder.words
    assert encoder.words.id("never-seen") == UNK_ID
    restored = Vocabulary.from_dict(encoder.words.to_dict())
    assert restored.items == encoder.words.items and restored.id("ada") == encoder.words.id("ada")


def test_scores_have_one_row_per_token():
    encoder, model = build()
    batch = encoder.encode(SENTENCES)
    assert model(batch).shape == (2, 7, len(TAGS))


def test_padding_never_changes_a_prediction():
    encoder, model = build()
    alone = model(encoder.encode([SENTENCES[1]]))[0]
    with_longer = model(encoder.encode([SENTENCES[1], SENTENCES[0] + ["extraordinarily-long-word"] * 20]))[0, :3]
    torch.testing.assert_close(alone, with_longer)


def test_loss_ignores_padding_and_trains():
    encoder, model = build()
    tags = [["B-PER", "I-PER", "O", "B-LOC", "O", "O", "O"], ["B-ORG", "O", "O"]]
    batch = encoder.encode(SENTENCES, tags)
    assert (batch.tag_ids[1, 3:] == -100).all()
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    first = model.loss(batch).item()
    for _ in range(30):
        optimizer.zero_grad()
        model.loss(batch).backward()
        optimizer.step()
    assert model.loss(batch).item() < first / 4
