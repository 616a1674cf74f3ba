"""Names in Latin scripts other than English's: a model's entity F1 on sentences whose names
carry marks (Malmö, Çalhanoğlu, Łódź), against the same sentences with the marks taken off.

    python tests/benchmarks/latin_names.py --model models/conll2003

The sentences are written here, in the types of CoNLL-2003. A model that reads a name with
marks as it reads the name without them scores the same on both.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from tagger.model.encoding import base_letters
from tagger.use.metrics import entity_metrics
from tagger.use.predict import Tagger

SENTENCES = """\
[Åsa Larsson](PER) visited [Malmö](LOC) on Friday .
[Jürgen Klopp](PER) was born in [Stuttgart](LOC) and coached in [München](LOC) .
[Hakan Çalhanoğlu](PER) moved from [İstanbul](LOC) to [Milano](LOC) .
[Søren Østergaard](PER) flew from [København](LOC) to [Oslo](LOC) .
[Österreich](LOC) beat [Başakşehir](ORG) 2-1 in [Kraków](LOC) .
[Łukasz Piszczek](PER) signed for [Borussia Dortmund](ORG) .
[José María Aznar](PER) met [François Hollande](PER) in [Málaga](LOC) .
[Zürich](LOC) bank [Crédit Suisse](ORG) reported a loss on Tuesday .
[Gérard Depardieu](PER) said he would leave [France](LOC) .
[Ivo Karlović](PER) lost to [Stanislas Wawrinka](PER) in [Genève](LOC) .
[Fenerbahçe](ORG) and [Galatasaray](ORG) drew 0-0 in [Kadıköy](LOC) .
[Björn Borg](PER) opened a shop in [Göteborg](LOC) .
The [Eurovisión](MISC) final was held in [Düsseldorf](LOC) .
[Nestlé](ORG) shares fell 2 percent in [Genève](LOC) .
[Ángel Di María](PER) scored twice for [Atlético Madrid](ORG) .
[Łódź](LOC) and [Gdańsk](LOC) voted for [Lech Wałęsa](PER) .
Prime minister [Jens Stoltenberg](PER) visited [Tromsø](LOC) .
[Dvořák](PER) wrote the symphony in [Praha](LOC) .
[Škoda](ORG) will build a plant near [Plzeň](LOC) .
[Ségolène Royal](PER) told [Le Monde](ORG) she would run .
[Renée Zellweger](PER) arrived in [Montréal](LOC) on Sunday .
[Mesut Özil](PER) left [Werder Bremen](ORG) for [Real Madrid](ORG) .
[Sigurður Einarsson](PER) of [Kaupþing](ORG) was questioned in [Reykjavík](LOC) .
[Ümit Özat](PER) collapsed during the match in [Köln](LOC) .
[Petr Čech](PER) kept a clean sheet against [Slovácko](ORG) .
The [Škoda Octavia](MISC) sold well in [Česko](LOC) .
[Andrés Iniesta](PER) and [Xavi Hernández](PER) played for [España](LOC) .
[Ærø](LOC) is an island south of [Fyn](LOC) .
[Tiësto](PER) played at a club in [Ibiza](LOC) .
[Citroën](ORG) recalled cars sold in [Belgïe](LOC) and [Nederland](LOC) .
"""

SPAN = re.compile(r"\[([^\]]+)\]\(([A-Z]+)\)|(\S+)")


def parse(line: str) -> tuple[list[str], list[str]]:
    """`[Åsa Larsson](PER) visited ...` as tokens and IOB2 tags."""
    tokens, tags = [], []
    for match in SPAN.finditer(line):
        if match[3] is not None:
            tokens.append(match[3])
            tags.append("O")
            continue
        words = match[1].split()
        tokens += words
        tags += [f"B-{match[2]}"] + [f"I-{match[2]}"] * (len(words) - 1)
    return tokens, tags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/conll2003"))
    arguments = parser.parse_args()
    tagger = Tagger.load(arguments.model)
    marked = [parse(line) for line in SENTENCES.splitlines()]
    plain = [([base_letters(token) for token in tokens], tags) for tokens, tags in marked]
    results = {}
    for name, sentences in (("with marks", marked), ("without marks", plain)):
        tokens = [tokens for tokens, _ in sentences]
        predicted = [tagged.tags for tagged in tagger.tag(tokens, with_probabilities=False)]
        results[name] = predicted
        metrics = entity_metrics([tags for _, tags in sentences], predicted)
        print(f"{name}: {len(sentences)} sentences, entity F1 {100 * metrics.f1:.2f} "
              f"(P {100 * metrics.precision:.2f}, R {100 * metrics.recall:.2f})")
    same = sum(a == b for a, b in zip(results["with marks"], results["without marks"]))
    print(f"tagged alike with and without marks: {same} of {len(marked)} sentences")


if __name__ == "__main__":
    main()
