"""Tag scores into tags, in numpy, for every network alike (torch's or ONNX Runtime's): the best
tag sequence the tag scheme allows (Viterbi), and each chosen tag's probability.

Taking each token's best tag alone can give `O I-PER`, which seqeval reads as an entity
the model never meant; a Viterbi under the scheme's constraints never does. The same
Viterbi decodes the CRF, whose learned transitions are added to the constraints, and the
CRF's probabilities are its marginals, by forward-backward in the same pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tagger.core.entities import is_bioes

BLOCKED = -1e30  # the log-potential of a forbidden step: finite, so that sums of them stay comparable


@dataclass(frozen=True)
class Transitions:
    """Log-potentials added to a tag path for its first tag, for each (previous, next) pair, and
    for its last tag (numpy arrays here; the CRF's training builds them from its parameters)."""

    start: np.ndarray  # (tags,)
    pairs: np.ndarray  # (tags, tags)
    end: np.ndarray  # (tags,)

    def __add__(self, other: Transitions) -> Transitions:
        return Transitions(self.start + other.start, self.pairs + other.pairs, self.end + other.end)


@dataclass(frozen=True)
class Constraints:
    """Which tags may start a sentence, follow one another, and end a sentence."""

    start: np.ndarray  # (tags,) bool
    transition: np.ndarray  # (tags, tags) bool, [previous, next]
    end: np.ndarray  # (tags,) bool

    @classmethod
    def for_tags(cls, tags: Sequence[str]) -> Constraints:
        """IOB2 rules, and BIOES ones (an open B-/I- must be continued) when E- or S- tags occur."""
        bioes = is_bioes(tags)
        opens = np.array([tag[:2] in ("B-", "I-") and bioes for tag in tags])
        continues = np.array([tag[:2] in ("I-", "E-") for tag in tags])
        transition = np.array([[_may_follow(previous, following, opened, continued)
                                for following, continued in zip(tags, continues)]
                               for previous, opened in zip(tags, opens)], dtype=bool)
        return cls(~continues, transition, ~opens)

    def penalties(self) -> Transitions:
        """0 where allowed, a huge negative log-potential where not."""
        return Transitions(*(np.where(allowed, 0.0, BLOCKED) for allowed in (self.start, self.transition, self.end)))


def _may_follow(previous: str, following: str, previous_opens: bool, following_continues: bool) -> bool:
    if following_continues:
        return previous[:2] in ("B-", "I-") and previous[2:] == following[2:]
    return not previous_opens


def decode(logits: np.ndarray, lengths: np.ndarray, constraints: Constraints, transitions: Transitions | None,
           with_probabilities: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """The best allowed tag ids of each sentence from the network's `logits` (batch, seq, tags),
    (batch, seq), and, if asked, each chosen tag's probability, (batch, seq): its softmax
    probability, or with the CRF's `transitions` its marginal given the whole sentence (the
    path is the best the scheme allows, the marginal the CRF's own). Past each sentence's
    length both hold padding."""
    lengths = np.asarray(lengths)
    if transitions is None:
        log_probs = logits - _logsumexp(logits, axis=-1)[..., None]
        tag_ids = best_allowed(log_probs, lengths, constraints)
        chosen = np.exp(np.take_along_axis(log_probs, tag_ids[..., None], axis=2)[..., 0]) \
            if with_probabilities else None
    else:
        tag_ids = viterbi(logits, lengths, constraints.penalties() + transitions)
        # The CRF's own marginal, over every path its transitions score, as tagger has always given it.
        chosen = np.take_along_axis(marginals(logits, lengths, transitions), tag_ids[..., None], axis=2)[..., 0] \
            if with_probabilities else None
    return tag_ids, chosen


def viterbi(emissions: np.ndarray, lengths: np.ndarray, transitions: Transitions) -> np.ndarray:
    """Best tag ids per sentence, (batch, seq), 0 past each length; `emissions` (batch, seq, tags)
    are each token's log-potential per tag, e.g. log-probabilities or a CRF's logits."""
    emissions = emissions.astype(np.float64, copy=False)
    batch, seq, _ = emissions.shape
    best = emissions[:, 0] + transitions.start  # (batch, tags): the best path ending in each tag
    backpointers = np.zeros((seq, batch, emissions.shape[2]), dtype=np.intp)
    for position in range(1, seq):
        candidates = best[:, :, None] + transitions.pairs  # (batch, previous, next)
        pointer = candidates.argmax(axis=1)
        backpointers[position] = pointer
        moved = np.take_along_axis(candidates, pointer[:, None, :], axis=1)[:, 0] + emissions[:, position]
        best = np.where((position < lengths)[:, None], moved, best)
    # Walk back from each sentence's own last token; positions past it stay 0.
    tag = (best + transitions.end).argmax(axis=1)  # (batch,)
    path = np.zeros((batch, seq), dtype=np.intp)
    rows = np.arange(batch)
    for position in range(seq - 1, 0, -1):
        inside = position < lengths
        path[:, position] = np.where(inside, tag, 0)
        tag = np.where(inside, backpointers[position, rows, tag], tag)
    path[:, 0] = tag
    return path


def marginals(emissions: np.ndarray, lengths: np.ndarray, transitions: Transitions) -> np.ndarray:
    """P(tag at position | sentence) under a linear-chain CRF, (batch, seq, tags), by forward-backward."""
    passes = forward_backward(emissions, lengths, transitions)
    joint = passes.forward * passes.backward
    return joint / joint.sum(axis=2, keepdims=True)


@dataclass(frozen=True)
class Passes:
    """The forward and backward passes of a linear-chain CRF over a batch, in probabilities.

    Rather than in logs, each step is rescaled to sum to 1: a product by the transition
    matrix costs far less than a log-sum-exp, and the scales, one per position, cancel once a
    product of the passes is normalised. The marginals, their pairs (for the CRF's gradient)
    and log Z all come from these.
    """

    forward: np.ndarray  # (batch, seq, tags), each position's row summing to 1
    backward: np.ndarray  # (batch, seq, tags), the same
    emitted: np.ndarray  # (batch, seq, tags): exp of the emissions, each position's best 1
    moves: np.ndarray  # (tags, tags): exp of the pair potentials, the best 1
    ending: np.ndarray  # (tags,): exp of the end potentials, the best 1
    inside: np.ndarray  # (batch, seq) bool: the real positions
    log_z: np.ndarray  # (batch,): log of the summed potentials of all tag paths


def forward_backward(emissions: np.ndarray, lengths: np.ndarray, transitions: Transitions) -> Passes:
    """The rescaled forward and backward passes of a CRF over (batch, seq, tags) emissions."""
    emissions = emissions.astype(np.float64, copy=False)
    batch, seq, tags = emissions.shape
    shift = emissions.max(axis=2, keepdims=True)
    emitted = np.exp(emissions - shift)
    moves = np.exp(transitions.pairs - transitions.pairs.max())
    ending = np.exp(transitions.end - transitions.end.max())
    inside = np.arange(seq)[None, :] < lengths[:, None]
    forward = np.empty_like(emitted)
    alpha = np.exp(transitions.start - transitions.start.max()) * emitted[:, 0]
    total = alpha.sum(axis=1)
    forward[:, 0] = alpha = alpha / total[:, None]
    log_scales = np.log(total)
    for position in range(1, seq):
        moved = (alpha @ moves) * emitted[:, position]
        total = moved.sum(axis=1)
        live = inside[:, position]
        alpha = np.where(live[:, None], moved / total[:, None], alpha)
        log_scales += np.where(live, np.log(total), 0.0)
        forward[:, position] = alpha
    backward = np.empty_like(emitted)
    beta = np.broadcast_to(ending / ending.sum(), (batch, tags))
    backward[:, seq - 1] = beta
    for position in range(seq - 2, -1, -1):
        moved = (emitted[:, position + 1] * beta) @ moves.T
        # A sentence's last position starts its backward pass; positions past it are never read.
        beta = np.where(inside[:, position + 1, None], moved / moved.sum(axis=1, keepdims=True), ending / ending.sum())
        backward[:, position] = beta
    log_z = (log_scales + np.log((alpha * ending).sum(axis=1)) + (shift[..., 0] * inside).sum(axis=1)
             + transitions.start.max() + (lengths - 1) * transitions.pairs.max() + transitions.end.max())
    return Passes(forward, backward, emitted, moves, ending, inside, log_z)


def best_allowed(log_probs: np.ndarray, lengths: np.ndarray, constraints: Constraints) -> np.ndarray:
    """The constrained Viterbi path of per-token log-probabilities, (batch, seq), found fast.

    With no learned transitions, each token's own best tag is the optimum whenever the
    sequence they make is allowed, as it nearly always is; only the other rows need Viterbi.
    """
    tags = log_probs.argmax(axis=-1)  # (batch, seq)
    inside = np.arange(tags.shape[1])[None, :] < lengths[:, None]
    last = np.take_along_axis(tags, np.maximum(lengths - 1, 0)[:, None], axis=1)[:, 0]
    pairs_allowed = constraints.transition[tags[:, :-1], tags[:, 1:]] | ~inside[:, 1:]
    allowed = constraints.start[tags[:, 0]] & constraints.end[last] & pairs_allowed.all(axis=1)
    tags = np.where(inside, tags, 0)
    if not allowed.all():
        broken = ~allowed
        tags[broken] = viterbi(log_probs[broken], lengths[broken], constraints.penalties())
    return tags


def _logsumexp(values: np.ndarray, axis: int) -> np.ndarray:
    top = values.max(axis=axis, keepdims=True)
    return np.log(np.exp(values - top).sum(axis=axis)) + np.squeeze(top, axis=axis)
