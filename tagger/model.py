"""The Bi-LSTM tagger: word and character features -> Bi-LSTM -> tag classifier,
decoded token by token (softmax) or as a whole sequence (CRF)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tagger.crf import Crf
from tagger.decoding import Constraints, best_allowed, viterbi
from tagger.encoding import PAD_ID, PAD_TAG_ID, UNK_ID, Batch

DECODERS = ("softmax", "crf")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the network before loading its weights."""

    word_count: int
    char_count: int
    tag_count: int
    word_dim: int = 50
    frozen_words: int = 0  # the last ids: pretrained words unseen in training, kept as they are
    char_dim: int = 30
    char_filters: int = 50
    char_kernel: int = 3
    hidden_size: int = 200
    lstm_layers: int = 1
    dropout: float = 0.5
    word_dropout: float = 0.05
    decoder: str = "softmax"  # one of DECODERS

    def __post_init__(self):
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder {self.decoder!r} is not one of {', '.join(DECODERS)}")


class BiLSTMTagger(nn.Module):
    """Per token: word embedding + char-CNN features; a Bi-LSTM over the sentence; at each
    token the forward and backward states, concatenated, go to a linear tag classifier."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.trained_words = config.word_count - config.frozen_words
        self.word_embedding = nn.Embedding(self.trained_words, config.word_dim, padding_idx=PAD_ID)
        # Words seen only in the pretrained vectors get no gradient: a buffer, in half
        # precision, keeps the model small and the optimiser's work to the words it trains.
        self.register_buffer("frozen_vectors", torch.zeros(config.frozen_words, config.word_dim,
                                                           dtype=torch.float16))
        self.char_embedding = nn.Embedding(config.char_count, config.char_dim, padding_idx=PAD_ID)
        self.char_cnn = nn.Conv1d(config.char_dim, config.char_filters, config.char_kernel,
                                  padding=config.char_kernel // 2)
        self.dropout = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(config.word_dim + config.char_filters, config.hidden_size,
                            num_layers=config.lstm_layers, batch_first=True, bidirectional=True,
                            dropout=config.dropout if config.lstm_layers > 1 else 0.0)
        self.classifier = nn.Linear(2 * config.hidden_size, config.tag_count)
        self.crf = Crf(config.tag_count) if config.decoder == "crf" else None

    def char_features(self, char_ids: torch.Tensor) -> torch.Tensor:
        """(forms, chars) -> (forms, filters): max over positions of the char CNN."""
        embedded = self.dropout(self.char_embedding(char_ids)).transpose(1, 2)  # (forms, char_dim, chars)
        convolved = self.char_cnn(embedded)  # (forms, filters, chars)
        # Padding must not win the max, or a word's features would depend on its batch.
        convolved = convolved.masked_fill((char_ids == PAD_ID)[:, None, :], float("-inf"))
        return convolved.max(dim=2).values

    def word_vectors(self, word_ids: torch.Tensor) -> torch.Tensor:
        """(batch, seq) -> (batch, seq, word_dim), from the trained or the frozen table."""
        trained = self.word_embedding(word_ids.clamp(max=self.trained_words - 1))
        if self.config.frozen_words == 0:
            return trained
        frozen = self.frozen_vectors[(word_ids - self.trained_words).clamp(min=0)].to(trained.dtype)
        return torch.where((word_ids < self.trained_words)[..., None], trained, frozen)

    def forward(self, batch: Batch) -> torch.Tensor:
        """Tag scores, (batch, seq, tags); rows past a sentence's length are meaningless."""
        word_ids = batch.word_ids
        if self.training and self.config.word_dropout > 0:
            # Unknown words at test time look like these: the UNK vector learns to stand for them.
            dropped = torch.rand(word_ids.shape, device=word_ids.device) < self.config.word_dropout
            word_ids = word_ids.masked_fill(dropped & (word_ids != PAD_ID), UNK_ID)
        words = self.word_vectors(word_ids)  # (batch, seq, word_dim)
        chars = self.char_features(batch.char_ids)[batch.token_forms]  # (batch, seq, filters)
        tokens = self.dropout(torch.cat([words, chars], dim=-1))
        states = self.bidirectional_states(tokens, batch.lengths)  # (batch, seq, 2*hidden)
        return self.classifier(self.dropout(states))

    def bidirectional_states(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The Bi-LSTM over padded sentences, (batch, seq, input) -> (batch, seq, 2*hidden);
        states past a sentence's length are meaningless.

        Each direction runs alone over a dense tensor: the forward one over the rows as they
        are (padding comes after the real tokens), the backward one over each row's tokens
        reversed in place. On real tokens this equals the packed bidirectional LSTM, and dense
        input lets PyTorch use its fused CPU kernels (oneDNN) in training too: measured here,
        300 training steps took 5.7 s against 9.1-9.7 s with packed sequences. On a GPU,
        cuDNN's kernel for packed sequences does both directions of all layers in one call.
        """
        if tokens.is_cuda:
            return self.packed_states(tokens, lengths)
        reverse = _reversing_index(lengths.to(tokens.device), tokens.shape[1])
        layer_input = tokens
        for layer in range(self.lstm.num_layers):
            forward = self._one_direction(layer_input, layer, "")
            backward = _reorder(self._one_direction(_reorder(layer_input, reverse), layer, "_reverse"), reverse)
            layer_input = torch.cat([forward, backward], dim=-1)
            if layer + 1 < self.lstm.num_layers:  # as nn.LSTM does between its layers
                layer_input = nn.functional.dropout(layer_input, self.lstm.dropout, self.training)
        return layer_input

    def packed_states(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The same states through nn.LSTM over packed sequences, (batch, seq, 2*hidden)."""
        packed = nn.utils.rnn.pack_padded_sequence(tokens, lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, _ = self.lstm(packed)
        return nn.utils.rnn.pad_packed_sequence(states, batch_first=True, total_length=tokens.shape[1])[0]

    def _one_direction(self, inputs: torch.Tensor, layer: int, suffix: str) -> torch.Tensor:
        """One direction of one layer of `self.lstm`, from zero states: (batch, seq, hidden)."""
        weights = [getattr(self.lstm, f"{name}_l{layer}{suffix}")
                   for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        zeros = inputs.new_zeros(1, inputs.shape[0], self.lstm.hidden_size)
        # The op nn.LSTM itself calls: one layer, one direction, batch first.
        return torch.lstm(inputs, (zeros, zeros), weights, True, 1, 0.0, self.training, False, True)[0]

    def loss(self, batch: Batch) -> torch.Tensor:
        """Per real token of the batch: mean cross-entropy, or the CRF's negative log-likelihood."""
        scores = self(batch).float()  # under mixed precision too: the loss's sums need float32's range
        if self.crf is None:
            return nn.functional.cross_entropy(scores.flatten(0, 1), batch.tag_ids.flatten(),
                                               ignore_index=PAD_TAG_ID)
        # Per token rather than per sentence, so one learning rate suits both decoders.
        return self.crf.nll(scores, batch.tag_ids, batch.lengths).sum() / batch.lengths.sum()

    def decode(self, batch: Batch, constraints: Constraints,
               with_probabilities: bool = True) -> tuple[list[list[int]], list[list[float]] | None]:
        """The best allowed tag ids of each sentence, and (if asked: the CRF's take a second
        pass) each chosen tag's probability: its softmax probability, or for the CRF its
        marginal given the whole sentence."""
        scores = self(batch)
        if self.crf is None:
            scores = scores.log_softmax(dim=-1)
            tag_ids = best_allowed(scores, batch.lengths, constraints)
        else:
            tag_ids = viterbi(scores, batch.lengths, constraints.penalties(scores.dtype) + self.crf.transitions())
        lengths = batch.lengths.tolist()
        paths = [row[:length] for row, length in zip(tag_ids.tolist(), lengths)]
        if not with_probabilities:
            return paths, None
        probabilities = scores.exp() if self.crf is None else self.crf.marginals(scores, batch.lengths)
        chosen = probabilities.gather(2, tag_ids[..., None]).squeeze(2).tolist()
        return paths, [row[:length] for row, length in zip(chosen, lengths)]


def _reversing_index(lengths: torch.Tensor, seq_len: int) -> torch.Tensor:
    """(batch, seq) positions that reverse each row's first `length` steps and keep the rest."""
    positions = torch.arange(seq_len, device=lengths.device)[None, :]
    return torch.where(positions < lengths[:, None], lengths[:, None] - 1 - positions, positions)


def _reorder(sequence: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(batch, seq, features) rows reordered along seq; the reversing index is its own inverse."""
    return sequence.gather(1, index[..., None].expand_as(sequence))
