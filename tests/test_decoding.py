"""Decoding: constrained Viterbi never outputs a tag sequence the scheme forbids, and the CRF's
sums, marginals and best paths are those of enumerating every path on tiny inputs."""

from __future__ import annotations

import itertools

import torch

from tagger.crf import Crf, log_partition
from tagger.decoding import Constraints, best_allowed, viterbi
from tagger.entities import entities

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
        paths = viterbi(log_probs, lengths, constraints.penalties())
        for row, length in enumerate(lengths.tolist()):
            assert paths[row, :length].tolist() == brute_force(log_probs[row, :length], constraints)
            assert paths[row, length:].eq(0).all()


def test_fast_path_finds_the_viterbi_path_whether_or_not_the_argmax_is_allowed():
    torch.manual_seed(3)
    for tags in (IOB2, BIOES):
        constraints = Constraints.for_tags(tags)
        # Even rows lean to O (their argmax is allowed), odd rows are random (it mostly is not).
        scores = torch.randn(64, 7, len(tags))
        scores[::2, :, 0] += 10.0
        log_probs = scores.log_softmax(-1)
        lengths = torch.randint(1, 8, (64,))
        fast = best_allowed(log_probs, lengths, constraints)
        assert torch.equal(fast, viterbi(log_probs, lengths, constraints.penalties()))


def test_forbids_inside_after_outside():
    # Per-token argmax would be O I-PER; the valid best is O B-PER or O O.
    log_probs = torch.log(torch.tensor([[[0.9, 0.02, 0.02, 0.03, 0.03], [0.05, 0.3, 0.55, 0.05, 0.05]]]))
    assert viterbi(log_probs, torch.tensor([2]), Constraints.for_tags(IOB2).penalties()).tolist() == [[0, 1]]
    assert best_allowed(log_probs, torch.tensor([2]), Constraints.for_tags(IOB2)).tolist() == [[0, 1]]


def all_paths(emissions, transitions):
    """Every tag path of one sentence with its CRF score."""
    length, tags = emissions.shape
    for path in itertools.product(range(tags), repeat=length):
        score = transitions.start[path[0]] + transitions.end[path[-1]]
        score = score + sum(emissions[i, tag] for i, tag in enumerate(path))
        score = score + sum(transitions.pairs[a, b] for a, b in zip(path, path[1:]))
        yield path, score


def random_crf(tags=4):
    crf = Crf(tags)
    with torch.no_grad():
        for parameter in crf.parameters():
            parameter.normal_()
    return crf


def test_crf_sums_marginals_and_best_paths_match_enumeration():
    torch.manual_seed(1)
    crf = random_crf()
    emissions = torch.randn(4, 5, 4)
    lengths = torch.tensor([5, 3, 1, 4])
    with torch.no_grad():
        totals = log_partition(emissions, lengths, crf.transitions())
        marginals = crf.marginals(emissions, lengths)
        best = viterbi(emissions, lengths, crf.transitions())
        gold = torch.randint(0, 4, (4, 5))
        nll = crf.nll(emissions, gold, lengths)
    for row, length in enumerate(lengths.tolist()):
        paths = list(all_paths(emissions[row, :length], crf.transitions()))
        scores = torch.stack([score for _, score in paths])
        assert torch.allclose(totals[row], scores.logsumexp(0), atol=1e-5)
        expected = torch.zeros(length, 4)
        for (path, _), probability in zip(paths, (scores - scores.logsumexp(0)).exp()):
            expected[torch.arange(length), list(path)] += probability
        assert torch.allclose(marginals[row, :length], expected, atol=1e-5)
        assert tuple(best[row, :length].tolist()) == paths[int(scores.argmax())][0]
        gold_score = dict(paths)[tuple(gold[row, :length].tolist())]
        assert torch.allclose(nll[row], scores.logsumexp(0) - gold_score, atol=1e-5)


def test_crf_decoding_keeps_to_the_scheme():
    torch.manual_seed(2)
    crf = random_crf(len(IOB2))
    with torch.no_grad():
        crf.pairs[0, 2] = 50.0  # the CRF has learnt to like O -> I-PER: the scheme still forbids it
        constraints = Constraints.for_tags(IOB2)
        emissions = torch.randn(3, 4, len(IOB2))
        paths = viterbi(emissions, torch.tensor([4, 4, 2]), constraints.penalties() + crf.transitions())
    for path in (row[:length] for row, length in zip(paths.tolist(), [4, 4, 2])):
        assert constraints.start[path[0]] and constraints.end[path[-1]]
        assert all(constraints.transition[a, b] for a, b in zip(path, path[1:]))


def test_entities_read_like_conlleval():
    assert [(e.type, e.start, e.end) for e in entities(["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-PER"])] == [
        ("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 5), ("PER", 5, 6)]
    assert [(e.type, e.start, e.end) for e in entities(["S-PER", "B-LOC", "I-LOC", "E-LOC", "O"])] == [
        ("PER", 0, 1), ("LOC", 1, 4)]
