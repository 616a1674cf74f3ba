"""A linear-chain CRF over per-token tag logits: its likelihood, for training.

A tag path's log-potential is the sum of its tokens' emissions (the tagger's logits) and of its
transitions. Batched over padded sentences; `lengths` says how many positions of each row are
real. Decoding and the marginals are `tagger.model.decoding`'s, given `Crf.transitions()` as arrays.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tagger.model.decoding import Transitions, forward_backward


class Crf(nn.Module):
    """Learned log-potentials for starting with a tag, moving from one tag to the next, and ending."""

    def __init__(self, tag_count: int):
        super().__init__()
        self.start = nn.Parameter(torch.zeros(tag_count))
        self.pairs = nn.Parameter(torch.zeros(tag_count, tag_count))  # [previous, next]
        self.end = nn.Parameter(torch.zeros(tag_count))

    def transitions(self) -> Transitions:
        """The learned log-potentials as numpy arrays, for decoding."""
        return Transitions(*(parameter.detach().cpu().numpy().astype(np.float64)
                             for parameter in (self.start, self.pairs, self.end)))

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of the gold `tags` (batch, seq), per sentence."""
        return log_partition(emissions, lengths, self.start, self.pairs, self.end) - \
            self.path_potential(emissions, tags, lengths)

    def path_potential(self, emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Log-potential of the given tag path of each sentence; tags past a sentence's end are ignored."""
        real = torch.arange(emissions.shape[1], device=emissions.device)[None] < lengths.to(emissions.device)[:, None]
        tags = tags.masked_fill(~real, 0)
        emitted = emissions.gather(2, tags[..., None]).squeeze(2)  # (batch, seq)
        moved = self.pairs[tags[:, :-1], tags[:, 1:]]  # (batch, seq - 1)
        last = tags.gather(1, (lengths.to(tags.device) - 1)[:, None]).squeeze(1)
        return (self.start[tags[:, 0]] + (emitted * real).sum(1) + (moved * real[:, 1:]).sum(1)
                + self.end[last])


def log_partition(emissions: torch.Tensor, lengths: torch.Tensor, start: torch.Tensor, pairs: torch.Tensor,
                  end: torch.Tensor) -> torch.Tensor:
    """log of the summed potentials of all tag paths, per sentence (the forward algorithm)."""
    return _LogPartition.apply(emissions, lengths, start, pairs, end)


class _LogPartition(torch.autograd.Function):
    """log Z by `tagger.model.decoding.forward_backward`, in numpy, and its gradient from the same
    passes: the marginals for the emissions, start and end, their pairs for the transitions.

    Written out rather than left to autograd: the forward algorithm is a loop of small
    operations over positions, and each one autograd records and replays cost more than
    numpy's whole step; the batch's emissions are small enough to move to the CPU and back.
    """

    @staticmethod
    def forward(ctx, emissions, lengths, start, pairs, end):
        transitions = Transitions(*(_array(tensor) for tensor in (start, pairs, end)))
        passes = forward_backward(_array(emissions), lengths.cpu().numpy(), transitions)
        ctx.passes, ctx.lengths, ctx.dtype = passes, lengths.cpu().numpy(), emissions.dtype
        return torch.from_numpy(passes.log_z).to(emissions.device, emissions.dtype)

    @staticmethod
    def backward(ctx, grad):
        passes, lengths = ctx.passes, ctx.lengths
        weights = grad.detach().cpu().numpy().astype(np.float64)[:, None] * passes.inside  # (batch, seq)
        joint = passes.forward * passes.backward
        emissions = joint / joint.sum(axis=2, keepdims=True) * weights[..., None]
        # P(tag i at position t - 1, tag j at t), for each t past the first
        pairs = passes.forward[:, :-1, :, None] * passes.moves * \
            (passes.emitted[:, 1:] * passes.backward[:, 1:])[:, :, None, :]
        pairs *= weights[:, 1:, None, None] / pairs.sum(axis=(2, 3), keepdims=True)
        ends = emissions[np.arange(len(lengths)), lengths - 1].sum(axis=0)

        def tensor(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array)).to(grad.device, ctx.dtype)

        return tensor(emissions), None, tensor(emissions[:, 0].sum(axis=0)), tensor(pairs.sum(axis=(0, 1))), \
            tensor(ends)


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float64)
