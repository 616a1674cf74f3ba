"""Shapes, padding and the vocabulary: what the model sees of a batch."""

from __future__ import annotations

import pytest
import torch

from tagger.core.config import Dimensions, ModelConfig
from tagger.model.decoding import Constraints, decode
from tagger.model.encoding import UNK_ID, Encoder, Vocabulary, normalise_word
from tagger.model.network import BiLSTMTagger, Tensors

SENTENCES = [["Ada", "Brandt", "visited", "Velden", "in", "1996", "."], ["Corva", "fell", "."]]
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


CPU = torch.device("cpu")


def tensors(batch):
    return Tensors.of(batch, CPU)


def build(hidden=16, decoder="softmax"):
    encoder = Encoder.build(SENTENCES, TAGS, pretrained_words=["paris"])
    torch.manual_seed(0)
    config = ModelConfig(decoder=decoder, hidden_size=hidden, char_dim=6, char_filters=5)
    dimensions = Dimensions(len(encoder.words), len(encoder.chars), len(encoder.tags), word_dim=8)
    return encoder, BiLSTMTagger(config, dimensions).eval()


def test_vocabulary_normalises_and_falls_back_to_unknown():
    encoder, _ = build()
    assert normalise_word("Berlin1996") == "berlin0000"
    assert encoder.words.id("0000") == encoder.words.id(normalise_word("1996")) != UNK_ID
    assert "paris" in encoder.words
    assert encoder.words.id("never-seen") == UNK_ID
    restored = Vocabulary.from_dict(encoder.words.to_dict())
    assert restored.items == encoder.words.items and restored.id("ada") == encoder.words.id("ada")


def test_a_name_written_with_marks_reads_as_the_same_name_without_them():
    encoder = Encoder.build([["Ada", "Malmo", "Tomas", "Oslo", "-", "1"], ["Kobenhavn", "Istanbul", "Lodz"]], TAGS)
    for marked, plain in [("Malmö", "Malmo"), ("Tomás", "Tomas"), ("København", "Kobenhavn"), ("Øslo", "Oslo"),
                          ("İstanbul", "Istanbul"), ("Łódź", "Lodz")]:
        with_marks, without = encoder.encode([[marked]]), encoder.encode([[plain]])
        assert with_marks.char_ids.tolist() == without.char_ids.tolist(), marked
        assert with_marks.word_ids.tolist() == without.word_ids.tolist() != [[UNK_ID]], marked


def test_a_character_never_seen_reads_as_one_of_its_kind_so_the_word_keeps_its_shape():
    encoder = Encoder.build([["met", "Ada", "-", "7", "Ivo"]], TAGS)
    [ids] = encoder.encode([["Þð٣—€"]]).char_ids.tolist()  # Icelandic upper and lower, an Arabic digit, a dash
    assert ids[:4] == [encoder.chars.id(char) for char in "Am7-"] and ids[4] == UNK_ID  # no symbol was seen
    [ids] = encoder.encode([["Москва"]]).char_ids.tolist()  # another script's letters make no Latin name
    assert ids == [UNK_ID] * 6


def test_logits_have_one_row_per_token():
    encoder, model = build()
    batch = encoder.encode(SENTENCES)
    assert model(tensors(batch)).shape == (2, 7, len(TAGS))


def test_padding_never_changes_a_prediction():
    encoder, model = build()
    alone = model(tensors(encoder.encode([SENTENCES[1]])))[0]
    longer = SENTENCES[0] + ["extraordinarily-long-word"] * 20
    with_longer = model(tensors(encoder.encode([SENTENCES[1], longer])))[0, :3]
    torch.testing.assert_close(alone, with_longer)


@pytest.mark.parametrize("layers", [1, 2])
def test_bilstm_states_equal_pytorchs_packed_bidirectional_lstm(layers):
    """The CPU's two dense directions against the packed nn.LSTM that cuDNN runs on a GPU."""
    torch.manual_seed(layers)
    model = BiLSTMTagger(ModelConfig(char_filters=4, hidden_size=6, lstm_layers=layers),
                         Dimensions(10, 10, 3, word_dim=4)).eval()
    tokens, lengths = torch.randn(3, 5, 8), torch.tensor([5, 2, 4])
    expected = model.packed_states(tokens, lengths)
    states = model.bidirectional_states(tokens, lengths)
    for row, length in enumerate(lengths.tolist()):
        torch.testing.assert_close(states[row, :length], expected[row, :length])


@pytest.mark.parametrize("decoder", ["softmax", "crf"])
def test_both_decoders_learn_a_batch_and_ignore_its_padding(decoder):
    encoder, model = build(decoder=decoder)
    tags = [["B-PER", "I-PER", "O", "B-LOC", "O", "O", "O"], ["B-ORG", "O", "O"]]
    batch = encoder.encode(SENTENCES, tags)
    assert (batch.tag_ids[1, 3:] == -100).all()
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    first = model.loss(tensors(batch)).item()
    for _ in range(30):
        optimizer.zero_grad()
        model.loss(tensors(batch)).backward()
        optimizer.step()
    assert model.loss(tensors(batch)).item() < first / 4
    logits, transitions = model.scores(batch)
    assert model.training  # scoring leaves a model in training in training mode
    tag_ids, probabilities = decode(logits, batch.lengths, Constraints.for_tags(encoder.tags.items), transitions)
    assert tag_ids.shape == probabilities.shape == (2, 7)
    assert [encoder.decode(row[:length].tolist()) for row, length in zip(tag_ids, batch.lengths)] == tags
    assert all(0.5 < p <= 1.0 for row, length in zip(probabilities, batch.lengths) for p in row[:length])


def test_unknown_decoder_is_refused():
    with pytest.raises(ValueError, match="crf"):
        ModelConfig(decoder="hmm")


def test_pretrained_words_training_lacks_are_found_in_sorted_order_without_a_dict():
    encoder = Encoder.build(SENTENCES, TAGS, pretrained_words=["zeta", "paris", "ada", "alpha", "zeta"])
    words = encoder.words
    trained = len(Vocabulary([normalise_word(token) for sentence in SENTENCES for token in sentence]))
    assert words.items[trained:] == ["alpha", "paris", "zeta"] and words.sorted_from == trained
    assert [words.id(word) for word in ("alpha", "paris", "zeta")] == [trained, trained + 1, trained + 2]
    assert words.id("ada") < trained and words.id("omega") == UNK_ID and "zeta" in words and "omega" not in words
    restored = Vocabulary.from_dict(words.to_dict())
    assert [restored.id(word) for word in words.items] == list(range(len(words)))
