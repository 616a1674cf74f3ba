"""The error breakdown and the two scorers, on gold/predicted pairs made by hand."""

from __future__ import annotations

import pytest

from tagger.cli.render import EXAMPLES_PER_CATEGORY, error_tables, in_context
from tagger.core.entities import Entity
from tagger.use.error_analysis import CATEGORIES, analyse
from tagger.use.metrics import entity_metrics

TOKENS = ["Ada", "Brandt", "of", "Norvik", "Bank", "met", "Lina", "in", "Port", "Arlo", "today"]
GOLD = ["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O", "B-PER", "O", "B-LOC", "I-LOC", "O"]
CASES = {  # category of the first gold entity (or of the prediction) -> a prediction showing it
    "correct": ["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O", "B-PER", "O", "B-LOC", "I-LOC", "O"],
    "wrong_type": ["B-ORG", "I-ORG", "O", "B-ORG", "I-ORG", "O", "B-PER", "O", "B-LOC", "I-LOC", "O"],
    "wrong_boundary": ["B-PER", "I-PER", "I-PER", "B-ORG", "I-ORG", "O", "B-PER", "O", "B-LOC", "I-LOC", "O"],
    "both_wrong": ["O", "B-LOC", "O", "B-ORG", "I-ORG", "O", "B-PER", "O", "B-LOC", "I-LOC", "O"],
    "missed": ["O", "O", "O", "B-ORG", "I-ORG", "O", "B-PER", "O", "B-LOC", "I-LOC", "O"],
}


@pytest.mark.parametrize("category", CASES)
def test_each_gold_entity_gets_its_category(category):
    report = analyse([TOKENS], [GOLD], [CASES[category]])
    expected = {name: 0 for name in CATEGORIES}
    expected["correct"] = 3  # the other three entities are always right
    expected[category] += 1
    assert report.to_dict()["totals"] == expected
    assert report.counts["PER"][category] >= 1


def test_a_prediction_meeting_no_gold_entity_is_spurious():
    predicted = ["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "B-MISC", "B-PER", "O", "B-LOC", "I-LOC", "B-LOC"]
    report = analyse([TOKENS], [GOLD], [predicted])
    assert report.totals()["spurious"] == 2 and report.totals()["correct"] == 4
    assert report.counts["MISC"]["spurious"] == 1 and report.counts["LOC"]["spurious"] == 1


def test_examples_show_both_readings_in_context():
    report = analyse([TOKENS], [GOLD], [CASES["both_wrong"]])
    [error] = report.errors["both_wrong"]
    assert error.sentence == 0 and error.entity == Entity("PER", 0, 2) and error.tokens == tuple(TOKENS)
    assert error.gold[:2] == (Entity("PER", 0, 2), Entity("ORG", 3, 5))
    assert error.predicted[:2] == (Entity("LOC", 1, 2), Entity("ORG", 3, 5))
    gold, predicted = in_context(error)
    assert gold.startswith("[Ada Brandt](PER) of [Norvik Bank](ORG)")
    assert predicted.startswith("Ada [Brandt](LOC) of [Norvik Bank](ORG)")
    assert gold.endswith(" …")  # the sentence goes on past the context shown


def test_every_error_is_kept_and_the_terminal_shows_a_few():
    report = analyse([TOKENS] * 7, [GOLD] * 7, [CASES["missed"]] * 7)
    assert [error.sentence for error in report.errors["missed"]] == list(range(7))
    missed = report.to_dict()["entities"]["missed"]
    assert len(missed) == 7 and missed[6] == {
        "sentence": 6, "type": "PER", "start": 0, "end": 2, "tokens": TOKENS,
        "gold": [{"type": name, "start": start, "end": end}
                 for name, start, end in (("PER", 0, 2), ("ORG", 3, 5), ("PER", 6, 7), ("LOC", 8, 10))],
        "predicted": [{"type": name, "start": start, "end": end}
                      for name, start, end in (("ORG", 3, 5), ("PER", 6, 7), ("LOC", 8, 10))]}
    _, examples = error_tables(report)
    assert examples.row_count == EXAMPLES_PER_CATEGORY < 7


def test_one_prediction_over_two_gold_entities_counts_for_both():
    predicted = ["B-PER", "I-PER", "I-PER", "I-PER", "I-PER", "O", "B-PER", "O", "B-LOC", "I-LOC", "O"]
    report = analyse([TOKENS], [GOLD], [predicted])
    assert report.counts["PER"]["wrong_boundary"] == 1 and report.counts["ORG"]["both_wrong"] == 1
    assert report.totals()["spurious"] == 0


def test_correct_entities_are_what_seqeval_counts_as_true_positives():
    gold = [GOLD] * 5
    predicted = list(CASES.values())
    report = analyse([TOKENS] * 5, gold, predicted)
    metrics = entity_metrics(gold, predicted)
    assert report.totals()["correct"] == round(metrics.recall * metrics.support) == 16


def test_strict_f1_drops_entities_that_are_not_well_formed():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    predicted = [["I-PER", "I-PER", "O", "B-LOC"]]  # conlleval reads an entity at I-PER; strict IOB2 does not
    metrics = entity_metrics(gold, predicted)
    assert metrics.f1 == 1.0
    assert metrics.strict_f1 == pytest.approx(2 / 3)


def test_strict_f1_reads_bioes_tags_as_bioes():
    gold = [["S-PER", "B-LOC", "E-LOC"]]
    assert entity_metrics(gold, gold).strict_f1 == 1.0
    assert entity_metrics(gold, [["S-PER", "B-LOC", "I-LOC"]]).strict_f1 == pytest.approx(2 / 3)
