"""ABSA readers: SemEval-2014 XML, the .seg format and JSON Lines, on hand-written files,
with the bad cases (term not in the sentence, offsets outside it, unknown polarity, empty
sentence) named by file and sentence id or line; and raw-record parsing for predict/serve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attnkit.errors import AttnkitError, DataError
from attnkit.tasks.absa import AspectSentimentTask
from attnkit.tasks.absa.readers import read_absa_file, read_absa_jsonl, read_seg, read_semeval_xml

XML = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sentences>
    <sentence id="3121">
        <text>But the staff was so horrible to us.</text>
        <aspectTerms>
            <aspectTerm term="staff" polarity="negative" from="8" to="13"/>
        </aspectTerms>
    </sentence>
    <sentence id="17">
        <text>The food is great, the menu is average, the wine was both.</text>
        <aspectTerms>
            <aspectTerm term="food" polarity="positive" from="4" to="8"/>
            <aspectTerm term="menu" polarity="neutral" from="23" to="27"/>
            <aspectTerm term="wine" polarity="conflict" from="44" to="48"/>
        </aspectTerms>
    </sentence>
    <sentence id="20"><text>No aspect here.</text></sentence>
</sentences>
"""

SEG = """But the $T$ was so horrible to us .
staff
-1
The $T$ is great , the menu is average .
food
1
The food is great , the $T$ is average .
menu
0
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_xml_reads_terms_offsets_and_drops_conflict(tmp_path):
    frame = read_semeval_xml(write(tmp_path, "train.xml", XML))
    assert frame.select("aspect", "from", "to", "label", "sid").rows() == [
        ("staff", 8, 13, "negative", "3121"),
        ("food", 4, 8, "positive", "17"),
        ("menu", 23, 27, "neutral", "17"),
    ]
    for row in frame.iter_rows(named=True):
        assert row["sentence"][row["from"] : row["to"]] == row["aspect"]


def test_seg_rebuilds_sentence_and_span(tmp_path):
    frame = read_seg(write(tmp_path, "train.seg", SEG))
    assert frame.select("aspect", "label", "sid").rows() == [
        ("staff", "negative", "line 1"), ("food", "positive", "line 4"), ("menu", "neutral", "line 7")
    ]
    first = frame.row(0, named=True)
    assert first["sentence"] == "But the staff was so horrible to us ."
    assert first["sentence"][first["from"] : first["to"]] == "staff"


def test_auto_format_by_suffix(tmp_path):
    assert read_absa_file(write(tmp_path, "a.xml", XML)).height == 3
    assert read_absa_file(write(tmp_path, "a.seg", SEG)).height == 3
    with pytest.raises(DataError, match="unknown ABSA file type"):
        read_absa_file(write(tmp_path, "a.csv", "x"))
    frame = read_absa_file(write(tmp_path, "a.txt", "Great pizza.\tpizza\nSlow service.\t5\t12\n"))
    assert frame.select("aspect", "from", "to").rows() == [("pizza", 6, 11), ("service", 5, 12)]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('term="staff"', 'term="waiter"', r"sentence id 3121: aspect term 'waiter' does not occur"),
        ('from="8" to="13"', 'from="30" to="99"', r"sentence id 3121: aspect offsets from=30 to=99 lie outside"),
        ('polarity="negative"', 'polarity="angry"', r"sentence id 3121: unknown polarity 'angry'"),
        ("<text>But the staff was so horrible to us.</text>", "<text>  </text>",
         r"sentence id 3121: the sentence is empty"),
        ('from="8" to="13"', 'from="9" to="14"', r"sentence id 3121: offsets from=9 to=14 give 'taff '"),
    ],
)
def test_xml_bad_cases_name_file_and_sentence(tmp_path, old, new, message):
    path = write(tmp_path, "bad.xml", XML.replace(old, new, 1))
    with pytest.raises(DataError, match=message) as caught:
        read_semeval_xml(path)
    assert str(path) in str(caught.value)


def test_xml_malformed(tmp_path):
    with pytest.raises(DataError, match="malformed XML"):
        read_semeval_xml(write(tmp_path, "bad.xml", "<sentences><sentence>"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("But the staff was bad .\nstaff\n-1\n", r"line 1: aspect term 'staff' does not occur"),
        ("The $T$ is good .\nfood\n2\n", r"line 3: unknown polarity '2'"),
        ("$T$\nfood\n1\n", r"line 1: the sentence is empty"),
        ("The $T$ is good .\nfood\n", r"not a multiple of 3"),
        ("The $T$ is good .\n \n1\n", r"line 2: the aspect term is empty"),
    ],
)
def test_seg_bad_cases_name_file_and_line(tmp_path, text, message):
    path = write(tmp_path, "bad.seg", text)
    with pytest.raises(DataError, match=message) as caught:
        read_seg(path)
    assert str(path) in str(caught.value)


def test_jsonl_terms_spans_and_bad_lines(tmp_path):
    lines = [{"sentence": "Great pizza, slow service.", "aspect": "service"},
             {"sentence": "Great pizza, slow service.", "from": 6, "to": 11, "polarity": "1"}]
    path = write(tmp_path, "in.jsonl", "\n".join(json.dumps(line) for line in lines))
    frame = read_absa_jsonl(path)
    assert frame.select("aspect", "from", "to", "label").rows() == [
        ("service", 18, 25, None), ("pizza", 6, 11, "positive")
    ]
    bad = write(tmp_path, "bad.jsonl", json.dumps({"sentence": "Great pizza.", "aspect": "wine"}))
    with pytest.raises(DataError, match=r"line 1: aspect term 'wine' does not occur"):
        read_absa_jsonl(bad)


def test_task_reads_named_splits_and_carves_dev(tmp_path):
    write(tmp_path, "Train.xml.seg", SEG * 4)
    write(tmp_path, "Test.xml.seg", SEG)
    task = AspectSentimentTask()
    data = {**task.data_defaults, "train": "Train.xml.seg", "test": "Test.xml.seg",
            "dev_fraction": 0.25}
    splits = task.read_splits(tmp_path, data, seed=0)
    assert {name: split.frame.height for name, split in splits.items()} == {
        "train": 9, "dev": 3, "test": 3}


def test_parse_raw_terms_spans_and_pairs():
    task = AspectSentimentTask()
    frame = task.parse_raw([
        {"sentence": "Great pizza, slow service.", "aspect": "Service"},
        {"sentence": "Great pizza, slow service.", "aspect": [6, 11]},
        {"sentence": "Great pizza, slow service.", "from": 18, "to": 25},
        ("The wine was fine.", "wine"),
    ])
    assert frame.select("aspect", "from", "to").rows() == [
        ("service", 18, 25), ("pizza", 6, 11), ("service", 18, 25), ("wine", 4, 8)
    ]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"sentence": "Great pizza.", "aspect": "wine"}, r"record 0: aspect term 'wine' does not occur"),
        ({"sentence": "Great pizza.", "aspect": [3, 40]}, r"record 0: aspect offsets from=3 to=40 lie outside"),
        ({"sentence": "  ", "aspect": "pizza"}, r"record 0: the sentence is empty"),
        ({"sentence": "Great pizza.", "aspect": 7}, r"record 0: field 'aspect' must be a term"),
        ({"sentence": 5, "aspect": "pizza"}, r"record 0: field 'sentence' must be a string"),
        ({"sentence": "Great pizza.", "aspect": ["a", "b"]}, r"span must be two integers"),
        ("just text", r"record 0: expected an object"),
    ],
)
def test_parse_raw_bad_inputs(record, message):
    with pytest.raises(AttnkitError, match=message):
        AspectSentimentTask().parse_raw([record])
