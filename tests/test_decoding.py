"""Decoding: constrained Viterbi never outputs a tag sequence the scheme forbids, and the CRF's
sums, marginals and best paths are those of enumerating every path on tiny inputs."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from tagger.core.entities import entities
from tagger.model.crf import Crf, log_partition
from tagger.model.decoding import Constraints, Transitions, best_allowed, decode, marginals, viterbi

IOB2 = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
BIOES = ["O", "B-PER", "I-PER", "E-PER", "S-PER"]


def log_softmax(scores):
    return scores - np.log(np.exp(scores).sum(axis=-1, keepdims=True))


def brute_force(log_probs, constraints):
    best, best_path = None, None
    for path in itertools.product(range(log_probs.shape[1]), repeat=log_probs.shape[0]):
        if not constraints.start[path[0]] or not constraints.end[path[-1]]:
            continue
        if not all(constraints.transition[a, b] for a, b in zip(path, path[1:])):
            continue
        total = sum(log_probs[i, tag] for i, tag in enumerate(path))
        if best is None or total > best:
            best, best_path = total, list(path)
    return best_path


def test_matches_brute_force_on_padded_batches():
    random = np.random.default_rng(0)
    for tags in (IOB2, BIOES):
        constraints = Constraints.for_tags(tags)
        log_probs = log_softmax(random.normal(size=(6, 4, len(tags))))
        lengths = np.array([4, 3, 1, 2, 4, 3])
        paths = viterbi(log_probs, lengths, constraints.penalties())
        for row, length in enumerate(lengths.tolist()):
            assert paths[row, :length].tolist() == brute_force(log_probs[row, :length], constraints)
            assert (paths[row, length:] == 0).all()


def test_fast_path_finds_the_viterbi_path_whether_or_not_the_argmax_is_allowed():
    random = np.random.default_rng(3)
    for tags in (IOB2, BIOES):
        constraints = Constraints.for_tags(tags)
        # Even rows lean to O (their argmax is allowed), odd rows are random (it mostly is not).
        scores = random.normal(size=(64, 7, len(tags)))
        scores[::2, :, 0] += 10.0
        log_probs = log_softmax(scores)
        lengths = random.integers(1, 8, size=64)
        fast = best_allowed(log_probs, lengths, constraints)
        assert np.array_equal(fast, viterbi(log_probs, lengths, constraints.penalties()))


def test_forbids_inside_after_outside():
    # Per-token argmax would be O I-PER; the valid best is O B-PER or O O.
    log_probs = np.log(np.array([[[0.9, 0.02, 0.02, 0.03, 0.03], [0.05, 0.3, 0.55, 0.05, 0.05]]]))
    assert viterbi(log_probs, np.array([2]), Constraints.for_tags(IOB2).penalties()).tolist() == [[0, 1]]
    assert best_allowed(log_probs, np.array([2]), Constraints.for_tags(IOB2)).tolist() == [[0, 1]]


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
        totals = log_partition(emissions, lengths, crf.start, crf.pairs, crf.end)
        gold = torch.randint(0, 4, (4, 5))
        nll = crf.nll(emissions, gold, lengths)
    transitions = crf.transitions()
    found = marginals(emissions.numpy(), lengths.numpy(), transitions)
    best = viterbi(emissions.numpy(), lengths.numpy(), transitions)
    for row, length in enumerate(lengths.tolist()):
        paths = list(all_paths(emissions[row, :length].double().numpy(), transitions))
        scores = np.array([score for _, score in paths])
        total = np.log(np.exp(scores).sum())
        assert abs(totals[row].item() - total) < 1e-5
        expected = np.zeros((length, 4))
        for (path, _), probability in zip(paths, np.exp(scores - total)):
            expected[np.arange(length), list(path)] += probability
        np.testing.assert_allclose(found[row, :length], expected, atol=1e-6)
        assert tuple(best[row, :length].tolist()) == paths[int(scores.argmax())][0]
        gold_score = dict(paths)[tuple(gold[row, :length].tolist())]
        assert abs(nll[row].item() - (total - gold_score)) < 1e-5


def test_marginals_hold_on_sentences_the_transitions_all_but_forbid():
    """Scores a thousand times apart, in probabilities rather than logs, still give marginals
    that sum to 1 and match the log-space ones."""
    random = np.random.default_rng(4)
    transitions = Transitions(random.normal(size=3) * 30, random.normal(size=(3, 3)) * 30, random.normal(size=3) * 30)
    emissions = random.normal(size=(2, 12, 3)) * 300
    lengths = np.array([12, 7])
    found = marginals(emissions, lengths, transitions)
    assert np.isfinite(found).all()
    np.testing.assert_allclose(found[0].sum(axis=1), 1.0)
    best = viterbi(emissions, lengths, transitions)
    for row, length in enumerate(lengths):
        assert (found[row, np.arange(length), best[row, :length]] > 0.99).all()  # one path takes all the mass


def test_crf_decoding_keeps_to_the_scheme():
    torch.manual_seed(2)
    crf = random_crf(len(IOB2))
    with torch.no_grad():
        crf.pairs[0, 2] = 50.0  # the CRF has learnt to like O -> I-PER: the scheme still forbids it
    constraints = Constraints.for_tags(IOB2)
    emissions = torch.randn(3, 4, len(IOB2)).numpy()
    tag_ids, probabilities = decode(emissions, np.array([4, 4, 2]), constraints, crf.transitions())
    for path, chosen in ((ids[:length], p[:length]) for ids, p, length in zip(tag_ids, probabilities, [4, 4, 2])):
        assert constraints.start[path[0]] and constraints.end[path[-1]]
        assert all(constraints.transition[a, b] for a, b in zip(path, path[1:]))
        assert len(chosen) == len(path) and all(0.0 < p <= 1.0 for p in chosen)


def test_entities_read_like_conlleval():
    assert [(e.type, e.start, e.end) for e in entities(["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-PER"])] == [
        ("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 5), ("PER", 5, 6)]
    assert [(e.type, e.start, e.end) for e in entities(["S-PER", "B-LOC", "I-LOC", "E-LOC", "O"])] == [
        ("PER", 0, 1), ("LOC", 1, 4)]


def test_the_crf_gradient_is_autograd_s_of_the_forward_algorithm():
    """log Z's gradient is written out (marginals and their pairs): it must equal what autograd
    gives for the forward algorithm in logs, on padded batches."""

    def forward_algorithm(emissions, lengths, start, pairs, end):
        potential = start + emissions[:, 0]
        for position in range(1, emissions.shape[1]):
            moved = torch.logsumexp(potential[:, :, None] + pairs[None], dim=1) + emissions[:, position]
            potential = torch.where((position < lengths)[:, None], moved, potential)
        return torch.logsumexp(potential + end, dim=1)

    torch.manual_seed(5)
    emissions = (torch.randn(6, 9, 5) * 3).requires_grad_()
    lengths = torch.tensor([9, 1, 4, 9, 2, 7])
    crf = random_crf(5)
    weights = torch.randn(6)
    parameters = [emissions, crf.start, crf.pairs, crf.end]
    expected = torch.autograd.grad((forward_algorithm(emissions, lengths, crf.start, crf.pairs, crf.end) * weights).sum(),
                                   parameters)
    found = torch.autograd.grad((log_partition(emissions, lengths, crf.start, crf.pairs, crf.end) * weights).sum(),
                                parameters)
    for name, want, got in zip(("emissions", "start", "pairs", "end"), expected, found):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4, msg=name)
    assert (found[0][1, 1:] == 0).all()  # padding gets no gradient
