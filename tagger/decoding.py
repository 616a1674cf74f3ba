"""Valid-sequence decoding: the best tag sequence that a tag scheme allows (Viterbi).

Taking each token's best tag alone can give `O I-PER`, which seqeval reads as an entity
the model never meant; a constrained Viterbi over the log-probabilities never does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Constraints:
    """Which tags may start a sentence, follow one another, and end a sentence."""

    start: torch.Tensor  # (tags,) bool
    transition: torch.Tensor  # (tags, tags) bool, [previous, next]
    end: torch.Tensor  # (tags,) bool

    @classmethod
    def for_tags(cls, tags: Sequence[str]) -> Constraints:
        """IOB2 rules, and BIOES ones (an open B-/I- must be continued) when E- or S- tags occur."""
        bioes = any(tag[:2] in ("E-", "S-") for tag in tags)
        opens = [tag[:2] in ("B-", "I-") and bioes for tag in tags]
        continues = [tag[:2] in ("I-", "E-") for tag in tags]
        transition = torch.tensor([[_may_follow(prev, nxt, opened, continued)
                                    for nxt, continued in zip(tags, continues)]
                                   for prev, opened in zip(tags, opens)])
        return cls(~torch.tensor(continues), transition, ~torch.tensor(opens))

    def to(self, device: torch.device) -> Constraints:
        return Constraints(self.start.to(device), self.transition.to(device), self.end.to(device))


def _may_follow(previous: str, following: str, previous_opens: bool, following_continues: bool) -> bool:
    if following_continues:
        return previous[:2] in ("B-", "I-") and previous[2:] == following[2:]
    return not previous_opens


def viterbi(log_probs: torch.Tensor, lengths: torch.Tensor, constraints: Constraints) -> list[list[int]]:
    """Best allowed tag ids per sentence; `log_probs` is (batch, seq, tags)."""
    blocked = torch.finfo(log_probs.dtype).min / 4  # not -inf: inf - inf would give nan
    transition = torch.where(constraints.transition, 0.0, blocked)  # (tags, tags)
    lengths = lengths.to(log_probs.device)
    score = log_probs[:, 0] + torch.where(constraints.start, 0.0, blocked)  # (batch, tags)
    backpointers = []
    for position in range(1, log_probs.shape[1]):
        candidates = score[:, :, None] + transition[None]  # (batch, previous, next)
        best, pointer = candidates.max(dim=1)
        active = (position < lengths)[:, None]
        score = torch.where(active, best + log_probs[:, position], score)
        backpointers.append(pointer)
    score = score + torch.where(constraints.end, 0.0, blocked)
    last = score.argmax(dim=1).tolist()
    pointers = torch.stack(backpointers, dim=1).tolist() if backpointers else []
    paths = []
    for row, length in enumerate(lengths.tolist()):
        path = [last[row]]
        for position in range(length - 1, 0, -1):
            path.append(pointers[row][position - 1][path[-1]])
        paths.append(path[::-1])
    return paths
