"""A linear-chain CRF over per-token tag logits: its likelihood, for training.

A tag path's log-potential is the sum of its tokens' emissions (the tagger's logits) and of its
transitions. Batched over padded sentences; `lengths` says how many positions of each row are
real. Decoding and the marginals are `tagger.decoding`'s, given `Crf.transitions()` as arrays.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tagger.decoding import Transitions


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
    lengths = lengths.to(emissions.device)
    potential = start + emissions[:, 0]  # (batch, tags): all paths ending in each tag
    for position in range(1, emissions.shape[1]):
        moved = torch.logsumexp(potential[:, :, None] + pairs[None], dim=1) + emissions[:, position]
        potential = torch.where((position < lengths)[:, None], moved, potential)
    return torch.logsumexp(potential + end, dim=1)
