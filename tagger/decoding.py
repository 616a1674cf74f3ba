"""Valid-sequence decoding: the best tag sequence that a tag scheme allows (Viterbi).

Taking each token's best tag alone can give `O I-PER`, which seqeval reads as an entity
the model never meant; a Viterbi under the scheme's constraints never does. The same
Viterbi decodes the CRF, whose learned transitions are added to the constraints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from tagger.entities import is_bioes


@dataclass(frozen=True)
class Transitions:
    """Log-potentials added to a tag path for its first tag, for each (previous, next) pair, and
    for its last tag."""

    start: torch.Tensor  # (tags,)
    pairs: torch.Tensor  # (tags, tags)
    end: torch.Tensor  # (tags,)

    def __add__(self, other: Transitions) -> Transitions:
        return Transitions(self.start + other.start, self.pairs + other.pairs, self.end + other.end)

    def reversed(self) -> Transitions:
        """The same log-potentials read right to left."""
        return Transitions(self.end, self.pairs.T, self.start)


@dataclass(frozen=True)
class Constraints:
    """Which tags may start a sentence, follow one another, and end a sentence."""

    start: torch.Tensor  # (tags,) bool
    transition: torch.Tensor  # (tags, tags) bool, [previous, next]
    end: torch.Tensor  # (tags,) bool

    @classmethod
    def for_tags(cls, tags: Sequence[str]) -> Constraints:
        """IOB2 rules, and BIOES ones (an open B-/I- must be continued) when E- or S- tags occur."""
        bioes = is_bioes(tags)
        opens = [tag[:2] in ("B-", "I-") and bioes for tag in tags]
        continues = [tag[:2] in ("I-", "E-") for tag in tags]
        transition = torch.tensor([[_may_follow(prev, nxt, opened, continued)
                                    for nxt, continued in zip(tags, continues)]
                                   for prev, opened in zip(tags, opens)])
        return cls(~torch.tensor(continues), transition, ~torch.tensor(opens))

    def to(self, device: torch.device) -> Constraints:
        return Constraints(self.start.to(device), self.transition.to(device), self.end.to(device))

    def penalties(self, dtype: torch.dtype = torch.float32) -> Transitions:
        """0 where allowed, a huge negative log-potential where not (not -inf: inf - inf would give nan)."""
        blocked = torch.finfo(dtype).min / 4
        return Transitions(*(torch.where(allowed, 0.0, blocked).to(dtype)
                             for allowed in (self.start, self.transition, self.end)))


def _may_follow(previous: str, following: str, previous_opens: bool, following_continues: bool) -> bool:
    if following_continues:
        return previous[:2] in ("B-", "I-") and previous[2:] == following[2:]
    return not previous_opens


def viterbi(emissions: torch.Tensor, lengths: torch.Tensor, transitions: Transitions) -> torch.Tensor:
    """Best tag ids per sentence, (batch, seq), 0 past each length; `emissions` (batch, seq, tags)
    are each token's log-potential per tag, e.g. log-probabilities or a CRF's logits."""
    lengths = lengths.to(emissions.device)
    best = emissions[:, 0] + transitions.start  # (batch, tags): the best path ending in each tag
    backpointers = []
    for position in range(1, emissions.shape[1]):
        candidates = best[:, :, None] + transitions.pairs[None]  # (batch, previous, next)
        best_previous, pointer = candidates.max(dim=1)
        active = (position < lengths)[:, None]
        best = torch.where(active, best_previous + emissions[:, position], best)
        backpointers.append(pointer)
    # Walk back from each sentence's own last token; positions past it stay 0.
    tag = (best + transitions.end).argmax(dim=1)  # (batch,)
    path = torch.zeros(emissions.shape[:2], dtype=torch.long, device=emissions.device)
    for position in range(emissions.shape[1] - 1, 0, -1):
        inside = position < lengths
        path[:, position] = torch.where(inside, tag, 0)
        previous = backpointers[position - 1].gather(1, tag[:, None]).squeeze(1)
        tag = torch.where(inside, previous, tag)
    path[:, 0] = tag
    return path


def best_allowed(log_probs: torch.Tensor, lengths: torch.Tensor, constraints: Constraints) -> torch.Tensor:
    """The constrained Viterbi path of per-token log-probabilities, (batch, seq), found fast.

    With no learned transitions, each token's own best tag is the optimum whenever the
    sequence they make is allowed, as it nearly always is; only the other rows need Viterbi.
    """
    tags = log_probs.argmax(dim=-1)  # (batch, seq)
    lengths = lengths.to(tags.device)
    inside = torch.arange(tags.shape[1], device=tags.device)[None, :] < lengths[:, None]
    last = tags.gather(1, (lengths - 1).clamp(min=0)[:, None]).squeeze(1)
    pairs_allowed = constraints.transition[tags[:, :-1], tags[:, 1:]] | ~inside[:, 1:]
    allowed = constraints.start[tags[:, 0]] & constraints.end[last] & pairs_allowed.all(dim=1)
    tags = tags.masked_fill(~inside, 0)
    if not allowed.all():
        broken = ~allowed
        tags[broken] = viterbi(log_probs[broken], lengths[broken], constraints.penalties(log_probs.dtype))
    return tags
