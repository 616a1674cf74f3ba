"""The HTML pages, read back with the standard library's parser as a browser would read them:
each entity highlighted with its type and score, nothing run and nothing fetched."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

from tagger.use.error_analysis import analyse
from tagger.use.html import colour, error_page, page_end, page_start, paragraph


@dataclass
class Mark:
    text: str = ""
    label: str = ""
    attributes: dict = field(default_factory=dict)


class Page(HTMLParser):
    """What a page shows: its marked entities, the cells of its counts table, each error's
    sentence number, every tag and every attribute that could load something."""

    def __init__(self, markup: str):
        super().__init__(convert_charrefs=True)
        self.marks: list[Mark] = []
        self.rows: list[list[str]] = []
        self.errors: list[str] = []
        self.tags: list[str] = []
        self.links: list[str] = []
        self.texts: list[str] = []  # each paragraph's text, without the type labels
        self._mark: Mark | None = None
        self._in = {"label": False, "cell": False, "where": False, "text": False}
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append(tag)
        self.links += [value for name, value in attrs if name in ("src", "href") and value]
        classes = (attributes.get("class") or "").split()
        if tag == "mark":
            self._mark = Mark(attributes=attributes)
        elif tag == "span" and "label" in classes:
            self._in["label"] = True
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th") and self.rows:
            self._in["cell"] = True
            self.rows[-1].append("")
        elif tag == "div" and "where" in classes:
            self._in["where"] = True
            self.errors.append("")
        elif tag == "p" and "text" in classes:
            self._in["text"] = True
            self.texts.append("")

    def handle_endtag(self, tag):
        if tag == "mark":
            self.marks.append(self._mark)
            self._mark = None
        elif tag == "span":
            self._in["label"] = False
        elif tag in ("td", "th"):
            self._in["cell"] = False
        elif tag == "div":
            self._in["where"] = False
        elif tag == "p":
            self._in["text"] = False

    def handle_data(self, data):
        if self._mark is not None:
            if self._in["label"]:
                self._mark.label += data
            else:
                self._mark.text += data
        if self._in["cell"]:
            self.rows[-1][-1] += data
        if self._in["where"]:
            self.errors[-1] += data
        if self._in["text"] and not self._in["label"]:
            self.texts[-1] += data


def assert_self_contained(markup: str, page: Page) -> None:
    """Readable with scripts off and offline: no script, no resource from the network."""
    assert "<script" not in markup.lower() and "script" not in page.tags
    assert not [link for link in page.links if re.match(r"(https?:)?//", link)]
    assert not re.search(r"url\(|@import", markup)
    assert markup.startswith("<!DOCTYPE html>") and markup.rstrip().endswith("</html>")


def test_a_predict_page_highlights_each_entity_with_its_type_and_score():
    lines = [("Ada Brandt met <Lina> & Ivo in Port Arlo.", [(0, 10, "PER", 0.981), (15, 21, "PER", 0.5),
                                                            (31, 40, "LOC", 0.8765)]),
             ("   ", []),
             ('A "quoted" Zyx phone.', [(11, 14, "PRODUCT", 0.25)])]
    markup = page_start("Tagged <text>") + "".join(paragraph(text, spans) for text, spans in lines) + page_end()
    page = Page(markup)
    assert_self_contained(markup, page)
    assert [(mark.text, mark.label, mark.attributes["data-type"], mark.attributes["title"]) for mark in page.marks] \
        == [("Ada Brandt", "PER", "PER", "PER 0.98"), ("<Lina>", "PER", "PER", "PER 0.50"),
            ("Port Arlo", "LOC", "LOC", "LOC 0.88"), ("Zyx", "PRODUCT", "PRODUCT", "PRODUCT 0.25")]
    # the text reads as given, markup characters and all; a blank line makes no paragraph
    assert page.texts == ["Ada Brandt met <Lina> & Ivo in Port Arlo.", 'A "quoted" Zyx phone.']
    assert "<title>Tagged &lt;text&gt;</title>" in markup


def test_each_type_has_its_own_colour_the_same_on_every_page():
    fixed = {name: colour(name) for name in ("PER", "LOC", "ORG", "MISC")}
    assert len(set(fixed.values())) == 4
    others = [colour(name) for name in ("PRODUCT", "DATE", "GPE", "EVENT")]
    assert len(set(others)) == 4 and not set(others) & set(fixed.values())
    [mark] = Page(paragraph("Zyx", [(0, 3, "PRODUCT", 0.5)])).marks
    assert colour("PRODUCT") in mark.attributes["style"]
    assert colour("PRODUCT") == "hsl(39, 75%, 82%)"  # from the name alone: no per-process hash salt


def test_spans_out_of_order_are_refused_not_drawn_garbled():
    with pytest.raises(ValueError):
        paragraph("Ada met Ivo", [(8, 11, "PER", 0.9), (0, 3, "PER", 0.9)])


TOKENS = ["Ada", "Brandt", "of", "Norvik", "Bank", "met", "Lina", "in", "Port", "Arlo", "today"]
GOLD = ["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O", "B-PER", "O", "B-LOC", "I-LOC", "O"]
MISSED_PER = ["O", "O", "O", "B-ORG", "I-ORG", "O", "B-PER", "O", "B-LOC", "I-LOC", "O"]
SPURIOUS_MISC = ["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O", "B-PER", "O", "B-LOC", "I-LOC", "B-MISC"]


def test_the_error_page_lists_every_error_in_its_sentence_beside_the_counts():
    predicted = [MISSED_PER] * 5 + [SPURIOUS_MISC]  # more missed than the terminal's few examples
    report = analyse([TOKENS] * 6, [GOLD] * 6, predicted)
    markup = error_page(report, "Entity errors: test", "Model m: 6 sentences")
    page = Page(markup)
    assert_self_contained(markup, page)
    assert page.rows[0] == ["type", "correct", "wrong type", "wrong boundary", "both wrong", "missed", "spurious"]
    assert page.rows[1:] == [["LOC", "6", "0", "0", "0", "0", "0"], ["MISC", "0", "0", "0", "0", "0", "1"],
                             ["ORG", "6", "0", "0", "0", "0", "0"], ["PER", "7", "0", "0", "0", "5", "0"],
                             ["all", "19", "0", "0", "0", "5", "1"]]
    assert page.errors == [f"sentence {index}" for index in range(6)]
    assert [heading for heading in re.findall(r"<h[23][^>]*>([^<]*)</h[23]>", markup)] == \
        ["Missed (5)", "PER (5)", "Spurious (1)", "MISC (1)"]
    # each error shows its sentence twice, gold then predicted, the entity concerned outlined
    first_gold, first_predicted = page.marks[:4], page.marks[4:7]
    assert [(mark.text, mark.label) for mark in first_gold] == [("Ada Brandt", "PER"), ("Norvik Bank", "ORG"),
                                                                 ("Lina", "PER"), ("Port Arlo", "LOC")]
    assert "focus" in first_gold[0].attributes["class"]
    assert [mark.text for mark in first_predicted] == ["Norvik Bank", "Lina", "Port Arlo"]
    spurious = [mark for mark in page.marks if mark.label == "MISC"]
    assert [(mark.text, "focus" in mark.attributes["class"]) for mark in spurious] == [("today", True)]


def test_an_error_page_without_errors_says_so():
    markup = error_page(analyse([TOKENS], [GOLD], [GOLD]), "Entity errors: test")
    page = Page(markup)
    assert page.rows[-1] == ["all", "4", "0", "0", "0", "0", "0"] and not page.marks and not page.errors
    assert "<p>No errors.</p>" in markup
