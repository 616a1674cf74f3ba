"""A linear-chain CRF over per-token tag logits: likelihood for training, marginals for confidence.

A tag path's log-potential is the sum of its tokens' emissions (the tagger's logits) and of its
transitions. Batched over padded sentences; `lengths` says how many positions of each row are
real. Decoding is `decoding.viterbi`, given `Crf.transitions()` on top of the scheme's constraints.
"""

from __future__ import annotations

import torch
from torch import nn

from tagger.decoding import Transitions
from tagger.encoding import reverse_padded


class Crf(nn.Module):
    """Learned log-potentials for starting with a tag, moving from one tag to the next, and ending."""

    def __init__(self, tag_count: int):
        super().__init__()
        self.start = nn.Parameter(torch.zeros(tag_count))
        self.pairs = nn.Parameter(torch.zeros(tag_count, tag_count))  # [previous, next]
        self.end = nn.Parameter(torch.zeros(tag_count))

    def transitions(self) -> Transitions:
        return Transitions(self.start, self.pairs, self.end)

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of the gold `tags` (batch, seq), per sentence."""
        return log_partition(emissions, lengths, self.transitions()) - \
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

    def marginals(self, emissions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """P(tag at position | sentence), (batch, seq, tags), by forward-backward."""
        transitions = self.transitions()
        forward = forward_potentials(emissions, lengths, transitions)
        # The backward pass is the forward one over each sentence reversed, with the
        # transitions reversed too: both include the emission at the position, so it is
        # counted twice and taken out once.
        backward = reverse_padded(forward_potentials(reverse_padded(emissions, lengths), lengths,
                                                     transitions.reversed()), lengths)
        total = _total(forward, transitions)
        return (forward + backward - emissions - total[:, None, None]).exp()


def forward_potentials(emissions: torch.Tensor, lengths: torch.Tensor, transitions: Transitions) -> torch.Tensor:
    """log of the summed potentials of all paths ending in each tag at each position (batch, seq, tags).

    Positions past a sentence's end repeat its last real position.
    """
    lengths = lengths.to(emissions.device)
    potential = transitions.start + emissions[:, 0]
    potentials = [potential]
    for position in range(1, emissions.shape[1]):
        moved = torch.logsumexp(potential[:, :, None] + transitions.pairs[None], dim=1) + emissions[:, position]
        potential = torch.where((position < lengths)[:, None], moved, potential)
        potentials.append(potential)
    return torch.stack(potentials, dim=1)


def log_partition(emissions: torch.Tensor, lengths: torch.Tensor, transitions: Transitions) -> torch.Tensor:
    """log of the summed potentials of all tag paths, per sentence (the forward algorithm)."""
    return _total(forward_potentials(emissions, lengths, transitions), transitions)


def _total(forward: torch.Tensor, transitions: Transitions) -> torch.Tensor:
    return torch.logsumexp(forward[:, -1] + transitions.end, dim=1)
