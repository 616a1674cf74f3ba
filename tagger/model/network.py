"""The Bi-LSTM tagger: word and character features -> Bi-LSTM -> tag classifier,
decoded token by token (softmax) or as a whole sequence (CRF)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from tagger.core.config import Dimensions, ModelConfig
from tagger.model.compact import NIBBLE_OFFSET
from tagger.model.crf import Crf
from tagger.model.decoding import Transitions
from tagger.model.encoding import PAD_ID, PAD_TAG_ID, UNK_ID, Batch


@dataclass(frozen=True)
class Tensors:
    """A Batch's arrays as tensors on the model's device (lengths stay on the CPU, as
    pack_padded_sequence wants them)."""

    word_ids: torch.Tensor
    token_forms: torch.Tensor
    char_ids: torch.Tensor
    lengths: torch.Tensor
    tag_ids: torch.Tensor | None
    features: torch.Tensor | None = None

    @classmethod
    def of(cls, batch: Batch, device: torch.device) -> Tensors:
        def move(array: np.ndarray) -> torch.Tensor:
            tensor = torch.from_numpy(array)
            if device.type != "cuda":
                return tensor.to(device)
            return tensor.pin_memory().to(device, non_blocking=True)  # the copy overlaps the GPU's work

        return cls(move(batch.word_ids), move(batch.token_forms), move(batch.char_ids),
                   torch.from_numpy(batch.lengths), None if batch.tag_ids is None else move(batch.tag_ids),
                   None if batch.features is None else move(batch.features))


class Dropout(nn.Module):
    """nn.Dropout, with its mask on the CPU drawn a byte an element from 32-bit random integers.

    torch draws a CPU dropout mask one Bernoulli sample at a time, which cost several times
    what drawing random bytes does: it was the largest cost of a training step after the
    LSTM and the character CNN. `p` is rounded to a 256th. On a GPU, torch's own is fast.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.dropped = round(p * 256)  # of every 256 byte values, those below this drop an element

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if not self.training or self.dropped == 0:
            return inputs
        if inputs.is_cuda:
            return nn.functional.dropout(inputs, self.p, training=True)
        count = inputs.numel()
        bits = torch.randint(-2 ** 31, 2 ** 31 - 1, ((count + 3) // 4,), dtype=torch.int32)
        kept = bits.view(torch.uint8)[:count].view(inputs.shape) >= self.dropped
        return inputs * kept * (256 / (256 - self.dropped))


class BiLSTMTagger(nn.Module):
    """Per token: word embedding + char-CNN features (+ a transformer's contextual features);
    a Bi-LSTM over the sentence; at each token the forward and backward states, concatenated,
    go to a linear tag classifier."""

    def __init__(self, config: ModelConfig, dimensions: Dimensions):
        super().__init__()
        self.config, self.dimensions = config, dimensions
        self.trained_words = dimensions.word_count - dimensions.frozen_words
        self.word_embedding = nn.Embedding(self.trained_words, dimensions.word_dim, padding_idx=PAD_ID)
        # Words seen only in the pretrained vectors get no gradient: a buffer, in 4 bits a value
        # (tagger.model.compact; half precision in models from before), keeps the model small and the
        # optimiser's work to the words it trains.
        if dimensions.frozen_bits == 4:
            self.register_buffer("frozen_codes", torch.zeros(dimensions.frozen_words, (dimensions.word_dim + 1) // 2,
                                                             dtype=torch.uint8))
            self.register_buffer("frozen_scales", torch.ones(dimensions.frozen_words, dtype=torch.float16))
        else:
            self.register_buffer("frozen_vectors", torch.zeros(dimensions.frozen_words, dimensions.word_dim,
                                                               dtype=torch.float16))
        self.char_embedding = nn.Embedding(dimensions.char_count, config.char_dim, padding_idx=PAD_ID)
        self.char_cnn = nn.Conv1d(config.char_dim, config.char_filters, config.char_kernel,
                                  padding=config.char_kernel // 2)
        self.dropout = Dropout(config.dropout)
        if dimensions.feature_dim and config.feature_layers > 1:
            # ELMo's scalar mix: softmax-normalised weights of the layers, and a scale
            self.layer_weights = nn.Parameter(torch.zeros(config.feature_layers))
            self.layer_scale = nn.Parameter(torch.ones(()))
        self.lstm = nn.LSTM(dimensions.word_dim + config.char_filters + dimensions.feature_dim, config.hidden_size,
                            num_layers=config.lstm_layers, batch_first=True, bidirectional=True,
                            dropout=config.dropout if config.lstm_layers > 1 else 0.0)
        self.classifier = nn.Linear(2 * config.hidden_size, dimensions.tag_count)
        self.crf = Crf(dimensions.tag_count) if config.decoder == "crf" else None

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
        if self.dimensions.frozen_words == 0:
            return trained
        rows = (word_ids - self.trained_words).clamp(min=0)
        if self.dimensions.frozen_bits == 4:
            codes = self.frozen_codes[rows]  # (batch, seq, bytes)
            values = torch.stack([codes & 15, codes >> 4], dim=-1).flatten(-2)[..., :self.dimensions.word_dim]
            frozen = (values.float() - NIBBLE_OFFSET) * self.frozen_scales[rows].float()[..., None]
        else:
            frozen = self.frozen_vectors[rows].float()
        return torch.where((word_ids < self.trained_words)[..., None], trained, frozen.to(trained.dtype))

    def forward(self, batch: Tensors) -> torch.Tensor:
        """Logits per tag, (batch, seq, tags); rows past a sentence's length are meaningless."""
        word_ids = batch.word_ids
        if self.training and self.config.word_dropout > 0:
            # Unknown words at test time look like these: the UNK vector learns to stand for them.
            dropped = torch.rand(word_ids.shape, device=word_ids.device) < self.config.word_dropout
            word_ids = word_ids.masked_fill(dropped & (word_ids != PAD_ID), UNK_ID)
        words = self.word_vectors(word_ids)  # (batch, seq, word_dim)
        chars = self.char_features(batch.char_ids)[batch.token_forms]  # (batch, seq, filters)
        parts = [words, chars] if batch.features is None else [words, chars, self.contextual(batch.features)]
        tokens = self.dropout(torch.cat(parts, dim=-1))
        states = self.bidirectional_states(tokens, batch.lengths)  # (batch, seq, 2*hidden)
        return self.classifier(self.dropout(states))

    def contextual(self, features: torch.Tensor) -> torch.Tensor:
        """(batch, seq, layers, dim) -> (batch, seq, dim): the one layer, or the layers mixed."""
        if features.shape[2] == 1:
            return features[:, :, 0]
        weights = torch.softmax(self.layer_weights, dim=0)
        return self.layer_scale * (features * weights[:, None]).sum(dim=2)

    def bidirectional_states(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The Bi-LSTM over padded sentences, (batch, seq, input) -> (batch, seq, 2*hidden);
        states past a sentence's length are meaningless.

        Each direction runs alone over a dense tensor: the forward one over the rows as they
        are (padding comes after the real tokens), the backward one over each row's tokens
        reversed in place. On real tokens this equals the packed bidirectional LSTM, and dense
        input lets PyTorch use its fused CPU kernels (oneDNN) in training too. On a GPU,
        cuDNN's kernel for packed sequences does both directions of all layers in one call.
        """
        if tokens.is_cuda:
            return self.packed_states(tokens, lengths)
        layer_input = tokens
        for layer in range(self.lstm.num_layers):
            forward = self._direction(layer_input, layer, reverse=False)
            backward = reverse_padded(self._direction(reverse_padded(layer_input, lengths), layer, reverse=True),
                                      lengths)
            layer_input = torch.cat([forward, backward], dim=-1)
            if layer + 1 < self.lstm.num_layers:  # as nn.LSTM does between its layers
                layer_input = nn.functional.dropout(layer_input, self.lstm.dropout, self.training)
        return layer_input

    def packed_states(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The same states through nn.LSTM over packed sequences, (batch, seq, 2*hidden)."""
        packed = nn.utils.rnn.pack_padded_sequence(tokens, lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, _ = self.lstm(packed)
        return nn.utils.rnn.pad_packed_sequence(states, batch_first=True, total_length=tokens.shape[1])[0]

    def _direction(self, inputs: torch.Tensor, layer: int, reverse: bool) -> torch.Tensor:
        """One direction of one layer of `self.lstm` over (batch, seq, input), from zero states."""
        suffix = "_reverse" if reverse else ""
        weights = [getattr(self.lstm, f"{name}_l{layer}{suffix}")
                   for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        return lstm_layer(inputs, weights, self.lstm.hidden_size, self.training)

    def loss(self, batch: Tensors) -> torch.Tensor:
        """Per real token of the batch: mean cross-entropy, or the CRF's negative log-likelihood."""
        logits = self(batch).float()  # under mixed precision too: the loss's sums need float32's range
        if self.crf is None:
            return nn.functional.cross_entropy(logits.flatten(0, 1), batch.tag_ids.flatten(),
                                               ignore_index=PAD_TAG_ID)
        # Per token rather than per sentence, so one learning rate suits both decoders.
        return self.crf.nll(logits, batch.tag_ids, batch.lengths).sum() / batch.lengths.sum()

    def scores(self, batch: Batch) -> tuple[np.ndarray, Transitions | None]:
        """What decoding reads: the logits of `batch`, (batch, seq, tags), as a float32 array, and
        the CRF's transitions (None for softmax). Run in evaluation mode, which training,
        scoring on dev between epochs, gets back after."""
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                logits = self(Tensors.of(batch, self.classifier.weight.device)).float().cpu().numpy()
        finally:
            self.train(was_training)
        return logits, None if self.crf is None else self.crf.transitions()


def lstm_layer(inputs: torch.Tensor, weights: list[torch.Tensor], hidden_size: int, training: bool) -> torch.Tensor:
    """One layer and direction of an LSTM, (batch, seq, input) -> (batch, seq, hidden), from zero
    states: the op nn.LSTM calls, with `weights` in its order (w_ih, w_hh, b_ih, b_hh)."""
    zeros = inputs.new_zeros(1, inputs.shape[0], hidden_size)
    outputs, _, _ = torch.lstm(inputs, (zeros, zeros), weights, has_biases=True, num_layers=1, dropout=0.0,
                               train=training, bidirectional=False, batch_first=True)
    return outputs


def reverse_padded(sequence: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(batch, seq, features) with each row's first `length` steps reversed and its padding left
    in place; applied twice, it gives the rows back."""
    positions = torch.arange(sequence.shape[1], device=sequence.device)[None, :]
    lengths = lengths.to(sequence.device)[:, None]
    index = torch.where(positions < lengths, lengths - 1 - positions, positions)  # (batch, seq)
    return sequence.gather(1, index[..., None].expand_as(sequence))
