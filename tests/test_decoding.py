"""Constrained Viterbi never outputs a tag sequence the scheme forbids."""

from __future__ import annotations

import itertools

import torch

from tagger.decoding import Constraints, viterbi
from tagger.predict import entities

IOB2 = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
BIOES = ["O", "B-PER", "I-PER", "E-PER", "S-PER"]


def brute_force(log_probs, constraints):
    best, best_path = None, None
    for path in itertools.product(range(log_probs.shape[1]), repeat=log_probs.shape[0]):
        if not constraints.start[path[0]] or not constraints.end[path[-1]]:
            continue
        if not all(constraints.transition[a, b] for a, b in zip(path, path[1:])):
            continue
        total = sum(log_probs[i, tag].item() for i, tag in enumerate(path))
        if best is None or total > best:
            best, best_path = total, list(path)
    return best_path


def test_matches_brute_force_on_padded_batches():
    torch.manual_seed(0)
    for tags in (IOB2, BIOES):
        constraints = Constraints.for_tags(tags)
        log_probs = torch.randn(6, 4, len(tags)).log_softmax(-1)
        lengths = torch.tensor([4, 3, 1, 2, 4, 3])
        paths = viterbi(log_probs, lengths, constraints)
        for row, length in enumerate(lengths.tolist()):
            assert paths[row] == brute_force(log_probs[row, :length], constraints)


def test_forbids_inside_after_outside():
    # Per-token argmax would be O I-PER; the valid best is O B-PER or O O.
    log_probs = torch.log(torch.tensor([[[0.9, 0.02, 0.02, 0.03, 0.03], [0.05, 0.3, 0.55, 0.05, 0.05]]]))
    assert viterbi(log_probs, torch.tensor([2]), Constraints.for_tags(IOB2)) == [[0, 1]]


def test_entities_read_like_conlleval():
    assert [(e.type, e.start, e.end) for e in entities(["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-PER"])] == [
        ("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 5), ("PER", 5, 6)]
    assert [(e.type, e.start, e.end) for e in entities(["S-PER", "B-LOC", "I-LOC", "E-LOC", "O"])] == [
        ("PER", 0, 1), ("LOC", 1, 4)]
