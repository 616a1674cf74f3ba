"""tagger as a Python library, and `tagger predict` as users run it in pipelines: a live stream
answered line by line, long sentences tagged whole, CoNLL in and out, records that join back to
their input, and one line for every I/O failure."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import threading
import time

import pytest
from typer.testing import CliRunner

import tagger
from tagger.cli import app

runner = CliRunner()
TEXT = "Ada Brandt met Tomas Wey in Velden on Monday.\n\nNorvik Bank said Lina Okoro will visit Port Arlo. It rained.\n"


def predict(model, data: str, *options: str) -> str:
    result = runner.invoke(app, ["predict", "--model", str(model), *options], input=data)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_python_api_tags_text_with_offsets_and_scores(small_model):
    nlp = tagger.load(small_model)
    doc = nlp("Ada Brandt met Tomas Wey in Velden on Monday.")
    assert [(e.text, e.type) for e in doc.entities] == [("Ada Brandt", "PER"), ("Tomas Wey", "PER"), ("Velden", "LOC")]
    assert all(doc.text[e.start:e.end] == e.text and 0.0 < e.score <= 1.0 for e in doc.entities)
    assert doc.tokens[:3] == ["Ada", "Brandt", "met"] and doc.tags[:3] == ["B-PER", "I-PER", "O"]
    [pre_tokenized] = nlp.tag_tokens(["Lina Okoro met Ivo Lund in Port Arlo on Monday .".split()])
    assert [(e.text, e.type, e.start, e.end) for e in pre_tokenized.entities] == [
        ("Lina Okoro", "PER", 0, 10), ("Ivo Lund", "PER", 15, 23), ("Port Arlo", "LOC", 27, 36)]


def test_pipe_streams_in_order_and_agrees_with_the_cli(small_model):
    nlp = tagger.load(small_model)
    lines = TEXT.splitlines(keepends=True)
    consumed = []

    def texts():  # an endless generator works as long as the caller stops reading
        for line in lines * 1000:
            consumed.append(line)
            yield line

    docs = nlp.pipe(texts(), batch_size=50)
    first = [next(docs) for _ in range(3)]
    assert len(consumed) < 100  # it did not read the whole input before the first Doc
    assert [doc.text for doc in first] == lines
    records = [json.loads(line) for line in predict(small_model, TEXT, "--format", "jsonl").splitlines()]
    assert [(e["type"], e["score"]) for record in records for e in record["entities"]] == \
        [(e.type, round(e.score, 4)) for doc in first for e in doc.entities]


def test_a_string_where_tokens_belong_is_an_error_not_a_tag_per_character(small_model):
    nlp = tagger.load(small_model)
    for call in (lambda: nlp.tag_tokens("Ada Brandt met Ivo."), lambda: nlp.tag_tokens(["Ada Brandt met Ivo."]),
                 lambda: nlp.tag("Ada Brandt met Ivo.")):
        with pytest.raises(TypeError, match="list of sentences, each a list of tokens"):
            call()
    with pytest.raises(TypeError, match="tag_tokens"):
        nlp(["Ada", "Brandt"])
    with pytest.raises(TypeError, match="for one text, call the tagger on it"):
        nlp.pipe("Ada Brandt met Ivo.")


def test_odd_tokens_and_batch_sizes_get_clear_answers(small_model):
    nlp = tagger.load(small_model)
    empty, named = nlp.tag_tokens([[], iter(["Ada", "Brandt", "met", "Ivo", "Lund", "."])])
    assert empty.tags == [] and empty.entities == []
    assert [e.text for e in named.entities] == ["Ada Brandt", "Ivo Lund"]
    with pytest.raises(ValueError, match="an empty token"):
        nlp.tag_tokens([["Ada", ""]])
    with pytest.raises(TypeError, match="a token of type int"):
        nlp.tag_tokens([["Ada", 5]])
    for batch_size in (0, -1, "x"):
        with pytest.raises(ValueError, match="give a whole number of tokens"):
            nlp.pipe(["Ada met Ivo."], batch_size=batch_size)


def test_load_finds_the_model_in_tagger_model(small_model, monkeypatch):
    monkeypatch.setenv("TAGGER_MODEL", str(small_model))
    assert [e.text for e in tagger.load()("Lina Okoro met Ivo Lund.").entities] == ["Lina Okoro", "Ivo Lund"]


def test_a_long_sentence_is_tagged_whole_wherever_its_entities_fall(small_model):
    nlp = tagger.load(small_model)
    words = "Ada Brandt met Tomas Wey in Velden on Monday .".split() * 40
    for shift in range(10):  # an entity starts at every position around any fixed cut
        [doc] = nlp.tag_tokens([["on"] * shift + words])
        assert {(e.text, e.type) for e in doc.entities} == {("Ada Brandt", "PER"), ("Tomas Wey", "PER"),
                                                              ("Velden", "LOC")}
        assert len(doc.entities) == 3 * 40


def read_until(stream, marker: bytes, timeout: float = 60) -> bytes:
    """Bytes from a pipe until `marker` has come, failing after `timeout` seconds."""
    data, deadline = b"", time.monotonic() + timeout
    while marker not in data:
        ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            pytest.fail(f"no {marker!r} within {timeout} s; got {data!r}")
        chunk = os.read(stream.fileno(), 1 << 16)
        if not chunk:
            pytest.fail(f"the output ended before {marker!r}; got {data!r}")
        data += chunk
    return data


def test_a_live_stream_is_answered_line_by_line(small_model):
    """A line's tags come out while the input is still open and nothing more has been sent."""
    process = subprocess.Popen([sys.executable, "-m", "tagger", "predict", "--model", str(small_model), "--format",
                                "inline"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        for line in ("Ada Brandt met Tomas Wey in Velden .\n", "Lina Okoro visited Port Arlo .\n"):
            process.stdin.write(line.encode())
            process.stdin.flush()
            answer = read_until(process.stdout, b"\n")
            assert answer.decode().startswith("[")
        process.stdin.close()
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()


def test_conll_input_comes_back_with_the_predicted_tag_as_a_last_column(small_model, tmp_path):
    from conftest import make_sentences, write_conll

    gold = write_conll(tmp_path / "gold.txt", make_sentences(6, seed=5), docstart=True)
    rows = gold.read_text().splitlines()
    output = predict(small_model, gold.read_text(), "--input-format", "conll").splitlines()
    assert len(output) == len(rows)
    for row, tagged in zip(rows, output):
        assert tagged == "" if row == "" else tagged.startswith(row + " ") and len(tagged.split()) == 5
    assert sum(tagged.split()[-1] == tagged.split()[-2] for tagged in output if tagged) > 0.8 * len(rows)
    records = [json.loads(line) for line in predict(small_model, gold.read_text(), "--input-format", "conll",
                                                    "--format", "jsonl").splitlines()]
    assert [record["line"] for record in records] == [number for number, row in enumerate(rows, 1)
                                                      if row and not rows[number - 2] and "DOCSTART" not in row]
    assert all(record["text"][e["start"]:e["end"]] == e["text"] for record in records for e in record["entities"])


def test_jsonl_records_name_their_input_line_and_sentence(small_model):
    records = [json.loads(line) for line in predict(small_model, TEXT, "--format", "jsonl").splitlines()]
    assert [(record["line"], record["sentence"]) for record in records] == [(1, 0), (3, 0), (3, 1)]
    assert records[2]["text"] == "It rained."
    from tagger.data.text import MAX_PIECE_BYTES  # a longer line is read in pieces: its sentences still count on

    long_line = "Ada met Ivo . " * (2 * MAX_PIECE_BYTES // 14) + "\nLina Okoro .\n"
    records = [json.loads(line) for line in predict(small_model, long_line, "--format", "jsonl").splitlines()]
    keys = [(record["line"], record["sentence"]) for record in records]
    assert keys == [(1, index) for index in range(len(keys) - 1)] + [(2, 0)]


def test_a_line_read_in_pieces_keeps_its_sentences_and_rows_whole(small_model):
    from tagger.data.text import MAX_PIECE_BYTES

    sentence = "Ada Brandt met Ivo Lund in Velden . "
    records = [json.loads(line) for line in predict(small_model, sentence * (3 * MAX_PIECE_BYTES // len(sentence)),
                                                    "--format", "jsonl").splitlines()]
    assert {" ".join(record["tokens"]) + " " for record in records} == {sentence}  # none cut at a piece's end
    row = "Velden " + "x" * (MAX_PIECE_BYTES + 100) + " B-LOC"
    rows = ["Ada B-PER", row, "met O", ""]
    tagged = predict(small_model, "\n".join(rows) + "\n", "--input-format", "conll").split("\n")
    assert [line.rsplit(" ", 1)[0] for line in tagged] == rows + [""]


def test_a_byte_order_mark_and_lone_carriage_returns_are_read_as_a_reader_means_them(small_model):
    assert predict(small_model, "\ufeffAda Brandt met Ivo .\n").split("\t")[0] == "Ada"
    rows = ["Ada B-PER", "Brandt I-PER", "met O", "", "Ivo B-PER", "."]
    tagged = predict(small_model, "\r".join(rows) + "\r", "--input-format", "conll").split("\r")
    assert [row.rsplit(" ", 1)[0] for row in tagged[:-1]] == rows and tagged[-1] == ""


def test_batch_size_changes_memory_not_output(small_model):
    assert predict(small_model, TEXT * 3, "--batch-size", "1") == predict(small_model, TEXT * 3)
    result = runner.invoke(app, ["predict", "--model", str(small_model), "--batch-size", "0"], input=TEXT)
    assert result.exit_code == 2


def test_a_large_input_is_tagged_on_worker_processes_as_in_one(small_model, monkeypatch):
    from tagger.use import workers

    if not workers.available():
        pytest.skip("worker processes are forked, on Linux only")
    started = []

    class Recorded(workers.Workers):
        def __init__(self, tagger, processes):
            super().__init__(tagger, processes)
            started.append(processes)

    monkeypatch.setattr(workers, "Workers", Recorded)
    text = TEXT * 40
    alone = predict(small_model, text, "--format", "jsonl", "--batch-size", "30", "--threads", "1")
    assert started == []
    shared = predict(small_model, text, "--format", "jsonl", "--batch-size", "30", "--threads", "2")
    assert started == [2] and shared == alone


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_a_kill_mid_input_ends_the_workers_quietly(small_model, tmp_path, signal_name):
    """Ctrl-C reaches the whole process group (a terminal sends it so); `kill`, `timeout` and
    `docker stop` send SIGTERM to the main process alone."""
    import signal

    from tagger.use import workers

    if not workers.available():
        pytest.skip("worker processes are forked, on Linux only")
    text = tmp_path / "text.txt"
    text.write_text(TEXT * 20_000)
    output = tmp_path / "out.jsonl"
    with open(output, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "tagger", "predict", "--model", str(small_model), "--format",
                                    "jsonl", "--batch-size", "200", "--threads", "2", "--input", str(text)],
                                   stdout=out, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 60
        while output.stat().st_size == 0 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # until the workers' first batches are written
        forked = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        assert process.poll() is None and forked, "predict ended before it could be interrupted"
        sent = getattr(signal, signal_name)
        if sent == signal.SIGINT:
            os.killpg(process.pid, sent)
        else:
            os.kill(process.pid, sent)
        _, stderr = process.communicate(timeout=60)  # stderr closes once the workers are gone too
    assert process.returncode == (130 if sent == signal.SIGINT else -sent)
    assert b"Traceback" not in stderr and b"Error" not in stderr, stderr.decode()[-2000:]
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{pid}") for pid in forked) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in forked)


@pytest.mark.parametrize("args, stdin, stdout, message", [
    (["--input", "{tmp}"], None, None, "a directory; give a text file"),
    ([], "closed", None, "stdin is closed"),
    ([], None, "/dev/full", "cannot write the output: No space left on device"),
    ([], None, "closed", "stdout is closed"),
    (["--tokenized", "--input-format", "conll"], None, None, "--tokenized and --input-format conll both given"),
])
def test_io_failures_are_one_line_and_exit_2(small_model, tmp_path, args, stdin, stdout, message):
    if stdout and stdout != "closed" and not os.path.exists(stdout):
        pytest.skip(f"no {stdout} here")
    command = [sys.executable, "-m", "tagger", "predict", "--model", str(small_model),
               *[arg.format(tmp=tmp_path) for arg in args]]
    closed = [descriptor for descriptor, given in ((0, stdin), (1, stdout)) if given == "closed"]
    with open(stdout if stdout and stdout != "closed" else os.devnull, "w") as out:
        result = subprocess.run(command, input=None if stdin else TEXT.encode(), stdout=out,
                                stderr=subprocess.PIPE, timeout=120,
                                preexec_fn=(lambda: [os.close(descriptor) for descriptor in closed]) if closed else None)
    error = result.stderr.decode()
    assert result.returncode == 2, error
    assert error.startswith("error: ") and message in error and len(error.strip().splitlines()) == 1


def test_a_closed_stderr_costs_nothing_and_eval_refuses_a_closed_stdout(small_model, tmp_path):
    from conftest import make_sentences, write_conll

    output = tmp_path / "out.txt"
    with output.open("w") as out:
        result = subprocess.run([sys.executable, "-m", "tagger", "predict", "--model", str(small_model)],
                                input=TEXT.encode(), stdout=out, timeout=120, preexec_fn=lambda: os.close(2))
    assert result.returncode == 0 and output.read_text().startswith("Ada\t")
    gold = write_conll(tmp_path / "gold.txt", make_sentences(4, seed=6))
    result = subprocess.run([sys.executable, "-m", "tagger", "eval", "--model", str(small_model), "--data", str(gold)],
                            stderr=subprocess.PIPE, timeout=120, preexec_fn=lambda: os.close(1))
    assert result.returncode == 2 and result.stderr.decode().startswith("error: stdout is closed")


def test_input_dash_reads_stdin(small_model):
    assert predict(small_model, TEXT, "--input", "-") == predict(small_model, TEXT)


def test_progress_goes_to_a_terminal_stderr_and_nowhere_else(small_model):
    text = (TEXT * 2000).encode()
    quiet = subprocess.run([sys.executable, "-m", "tagger", "predict", "--model", str(small_model)], input=text,
                           capture_output=True, timeout=300)
    assert quiet.returncode == 0 and quiet.stderr == b""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "tagger", "predict", "--model", str(small_model)],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=terminal)
    os.close(terminal)
    shown = []
    reader = threading.Thread(target=lambda: shown.extend(iter(lambda: _read_or_end(controller), b"")))
    reader.start()
    try:
        process.communicate(text, timeout=300)
    finally:
        process.kill()
        reader.join(timeout=60)
        os.close(controller)
    assert process.returncode == 0
    assert b"tagged" in b"".join(shown) and b"tokens" in b"".join(shown)


def _read_or_end(descriptor: int) -> bytes:
    try:
        return os.read(descriptor, 1 << 16)
    except OSError:  # the terminal closed with the process
        return b""


def test_the_html_page_shows_the_entities_jsonl_gives_with_their_scores(small_model):
    from test_html import Page, assert_self_contained

    markup = predict(small_model, TEXT + "<b>Ivo Lund</b> & Lina Okoro.\n", "--format", "html")
    page = Page(markup)
    assert_self_contained(markup, page)
    records = [json.loads(line) for line in predict(small_model, TEXT + "<b>Ivo Lund</b> & Lina Okoro.\n",
                                                    "--format", "jsonl").splitlines()]
    entities = [e for record in records for e in record["entities"]]
    assert len(entities) > 3
    shown = [(mark.text, *mark.attributes["title"].split()) for mark in page.marks]
    assert [(text, kind) for text, kind, _ in shown] == [(e["text"], e["type"]) for e in entities]
    # The page rounds the score to 2 decimals, jsonl to 4: the two agree to the page's rounding.
    assert all(abs(float(score) - e["score"]) <= 0.005 + 1e-4 for (_, _, score), e in zip(shown, entities))
    assert page.texts[-1] == "<b>Ivo Lund</b> & Lina Okoro."


def test_a_tagger_says_what_it_is_and_which_types_it_tags(small_model):
    nlp = tagger.load(small_model)
    assert sorted(nlp.entity_types) == ["LOC", "ORG", "PER"]  # those of the sample it trained on
    assert repr(nlp) == f"<Tagger from {small_model}: softmax decoder on torch, entity types {', '.join(nlp.entity_types)}>"


def test_a_folder_that_holds_no_model_is_called_that(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model", encoding="utf-8")
    result = runner.invoke(app, ["predict", "--model", str(tmp_path)], input="Ada met Ivo.\n")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path}: holds no tagger model (one is a folder of config.json")
