"""A linear-chain CRF over per-token tag scores: likelihood for training, marginals for confidence.

Batched over padded sentences; `lengths` says how many positions of each row are real.
Decoding is `decoding.viterbi`, given `Crf.transitions()` on top of the scheme's constraints.
"""

from __future__ import annotations

import torch
from torch import nn

from tagger.decoding import Transitions


class Crf(nn.Module):
    """Learned scores for starting with a tag, moving from one tag to the next, and ending."""

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
            self.path_score(emissions, tags, lengths)

    def path_score(self, emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Score of the given tag path of each sentence; tags past a sentence's end are ignored."""
        real = _real_positions(lengths, emissions.shape[1], emissions.device)
        tags = tags.masked_fill(~real, 0)
        emitted = emissions.gather(2, tags[..., None]).squeeze(2)  # (batch, seq)
        moved = self.pairs[tags[:, :-1], tags[:, 1:]]  # (batch, seq - 1)
        last = tags.gather(1, (lengths.to(tags.device) - 1)[:, None]).squeeze(1)
        return (self.start[tags[:, 0]] + (emitted * real).sum(1) + (moved * real[:, 1:]).sum(1)
                + self.end[last])

    def marginals(self, emissions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """P(tag at position | sentence), (batch, seq, tags), by forward-backward."""
        transitions = self.transitions()
        forward = forward_scores(emissions, lengths, transitions)
        # The backward pass is the forward one over each sentence reversed, with the
        # transitions reversed too: both include the emission at the position, so it is
        # counted twice and taken out once.
        reverse = _reversal(lengths, emissions.shape[1], emissions.device)
        flipped = emissions.gather(1, reverse[..., None].expand_as(emissions))
        backward = forward_scores(flipped, lengths, transitions.reversed())
        backward = backward.gather(1, reverse[..., None].expand_as(backward))
        total = _total(forward, lengths, transitions)
        return (forward + backward - emissions - total[:, None, None]).exp()


def forward_scores(emissions: torch.Tensor, lengths: torch.Tensor, transitions: Transitions) -> torch.Tensor:
    """log of the summed scores of all paths ending in each tag at each position (batch, seq, tags).

    Positions past a sentence's end repeat its last real position.
    """
    lengths = lengths.to(emissions.device)
    score = transitions.start + emissions[:, 0]
    scores = [score]
    for position in range(1, emissions.shape[1]):
        moved = torch.logsumexp(score[:, :, None] + transitions.pairs[None], dim=1) + emissions[:, position]
        score = torch.where((position < lengths)[:, None], moved, score)
        scores.append(score)
    return torch.stack(scores, dim=1)


def log_partition(emissions: torch.Tensor, lengths: torch.Tensor, transitions: Transitions) -> torch.Tensor:
    """log of the summed scores of all tag paths, per sentence (the forward algorithm)."""
    return _total(forward_scores(emissions, lengths, transitions), lengths, transitions)


def _total(forward: torch.Tensor, lengths: torch.Tensor, transitions: Transitions) -> torch.Tensor:
    return torch.logsumexp(forward[:, -1] + transitions.end, dim=1)


def _real_positions(lengths: torch.Tensor, width: int, device: torch.device) -> torch.Tensor:
    return torch.arange(width, device=device)[None] < lengths.to(device)[:, None]


def _reversal(lengths: torch.Tensor, width: int, device: torch.device) -> torch.Tensor:
    """Per row, the index map that reverses the real positions and leaves padding in place."""
    positions = torch.arange(width, device=device)[None]
    lengths = lengths.to(device)[:, None]
    return torch.where(positions < lengths, lengths - 1 - positions, positions)
