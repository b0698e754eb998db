"""The REPL's search / read / cite helpers (rlm_cli/sandbox/helpers.py), directly and inside the real worker."""
from __future__ import annotations

import pickle
import random
import re

import pytest

from rlm_cli.context import locate
from rlm_cli.sandbox import SandboxOptions, SubprocessSandbox
from rlm_cli.sandbox.helpers import Finder, Hit, evidence_items, final_args, passage_starts


def haystack(n: int = 3000, seed: int = 3) -> str:
    rng = random.Random(seed)
    words = "river stone light harbor bridge market orchard lantern meadow quiet".split()
    lines = [" ".join(rng.choice(words) for _ in range(14)) + "." for _ in range(n)]
    lines[2222] = "One of the special magic numbers for amber-falcon-27 is: 4352381."
    lines[100] = "One of the special magic numbers for amber-raven-31 is: 1111111."
    lines[1500] = "One of the special magic numbers for ivory-falcon-12 is: 2222222."
    return "\n".join(lines) + "\n"


def finder(text: str) -> Finder:
    sources = [{"name": "doc.txt", "kind": "text", "start": 0, "end": len(text), "pages": []}]
    return Finder(lambda: text, lambda i: locate(text, sources, i))


def test_search_ranks_the_passage_with_the_rare_words_first():
    text = haystack()
    hits = finder(text).search("What is the special magic number for amber-falcon-27 mentioned in the text?")
    assert hits[0].text == "One of the special magic numbers for amber-falcon-27 is: 4352381."
    assert hits[0].where == "doc.txt line 2223" and text[hits[0].start:hits[0].end] == hits[0].text
    assert len(hits) == 3  # only the three needle lines hold any of the words
    shown = repr(hits)
    assert shown.splitlines()[1] == f"[0] doc.txt line 2223 (offset {hits[0].start}): {hits[0].text}"
    assert shown.splitlines()[0] == (
        "search('What is the special magic number for amber-falcon-27 mentioned in the text?'): 'amber-falcon-27' "
        "once, 'special' 3 times, 'magic' 3 times, 'number' 3 times, 'amber' 2 times, 'falcon' 2 times, '27' once; "
        "3 passages match, best 3:")


def test_search_takes_the_argument_shapes_small_models_write():
    f = finder(haystack())
    joined = f.search("special magic amber-falcon-27")
    assert repr(f.search("special magic", "amber-falcon-27")) == repr(joined)
    assert repr(f.search(["special", "magic"], "amber-falcon-27")) == repr(joined)
    assert len(f.search("special magic", "amber-falcon-27", 1)) == 1 and len(f.search("magic", k=2)) == 2
    both = f.search(r"amber-\w+", r"ivory-\w+", 5, True)  # the old positional (query, k, regex), and alternatives
    assert [h.start for h in both] == sorted(h.start for h in both) and len(both) == 3


def test_search_with_nothing_to_find_says_so():
    f = finder(haystack())
    assert repr(f.search("the of and")) .startswith("search('the of and'): no words")
    assert repr(f.search("zeppelin")) == "search('zeppelin'): none of 'zeppelin' occurs in the context"


def test_regex_search_returns_matches_in_document_order_with_the_total():
    text = haystack()
    hits = finder(text).search(r"magic numbers for (\w+)-falcon", regex=True, k=1)
    assert len(hits) == 1 and "amber-falcon-27" not in hits[0].text and "ivory-falcon-12" in hits[0].text
    assert "2 matches; first 1" in repr(hits)
    with pytest.raises(ValueError, match="bad pattern"):
        finder(text).search("(", regex=True)


def test_tally_counts_every_distinct_value_of_a_group_most_common_first():
    rng = random.Random(5)
    labels = rng.choices(["billing", "refund", "shipping"], [5, 1, 3], k=4000)
    text = "".join(f"Record {i:06d} | label: {lab} | note: the billing desk called.\n" for i, lab in enumerate(labels))
    t = finder(text).tally(r"label: (\w+)")
    want = {lab: labels.count(lab) for lab in ("billing", "shipping", "refund")}
    assert t == want and list(t) == sorted(want, key=lambda v: -want[v])  # ranked, exact over the whole text
    assert t.most_common(1) == [("billing", want["billing"])]
    shown = repr(t).splitlines()
    assert shown[0] == "tally('label: (\\\\w+)'): 4,000 matches, 3 distinct; most common first:"
    assert shown[1] == f"  'billing': {want['billing']:,}" and len(shown) == 4
    words = finder(text).tally(["refund", "Billing", "zeppelin"])  # whole words, any case
    assert words == {"Billing": want["billing"] + 4000, "refund": want["refund"], "zeppelin": 0}
    for field in (["label"], "label", "Label"):  # one plain word that is a field name: its values
        assert finder(text).tally(field) == want and "the field 'label' has these values" in repr(finder(text).tally(field))
    assert finder(text).tally("Record") == {"Record": 4000}  # a plain word that is no field: the word
    assert list(finder(text).tally(r"Record \d+", k=2)) == [f"Record {i:06d}" for i in range(4000)]
    assert repr(finder(text).tally(r"Record \d+", k=2)).endswith("... and 3,998 more values")
    assert pickle.loads(pickle.dumps(t)) == t and repr(pickle.loads(pickle.dumps(t))) == repr(t)
    with pytest.raises(ValueError, match="bad pattern"):
        finder(text).tally("(")


def test_search_of_a_field_or_its_value_adds_the_fields_distribution_over_the_whole_text():
    rng = random.Random(9)
    labels = rng.choices(["billing", "refund", "shipping"], [5, 1, 3], k=3000)
    text = "".join(f"Record {i:06d} | city: {rng.choice(['Oslo', 'Lima'])} | label: {lab} | note: refund later.\n"
                   for i, lab in enumerate(labels))
    want = sorted(((lab, labels.count(lab)) for lab in set(labels)), key=lambda kv: -kv[1])
    summary = ["field 'label' counted over the whole text (3,000 values, 3 distinct), most common first:",
               *(f"  {i}. {v!r}: {n:,}" for i, (v, n) in enumerate(want, 1))]
    for query in (["label"], "How many records have the label 'refund'?", "shipping or billing"):
        hits = finder(text).search(query)
        assert "\n".join(summary) in hits.footer and repr(hits).endswith(hits.footer), query
    assert "field 'city'" in repr(finder(text).search("Oslo"))
    # Prose: a word that is not a field, a field with too many values, and a rare word get no summary.
    prose = haystack() + "".join(f"Note: item {i} was checked.\n" for i in range(100)) + "Status: open\n"
    for query in ("amber-falcon-27", "Note", "Status", "river"):
        assert not [line for line in repr(finder(prose).search(query)).splitlines() if line.startswith("field ")], query


def test_a_table_column_is_counted_from_its_header_or_from_one_of_its_values(tmp_path):
    """CSV and spreadsheets become tab-separated rows: a searched value of a column, or its header, gets
    the column counted over every row; tally("Header") counts the column. Through real CSV ingestion."""
    from rlm_cli.ingest import load_sources

    rng = random.Random(4)
    rows = [(i, rng.choice(["East", "West", "Central"]), rng.choice(["Jones", "Gill"]), rng.randint(1, 90))
            for i in range(1500)]
    csv = tmp_path / "orders.csv"
    csv.write_text("Order,Region,Rep,Units\n" + "".join(f"{i},{r},{p},{u}\n" for i, r, p, u in rows))
    text = load_sources([str(csv)], use_cache=False).text
    regions = sorted({r for _, r, _, _ in rows}, key=lambda r: -sum(x[1] == r for x in rows))
    head = "column 'Region' counted over the whole text (1,500 values, 3 distinct), most common first:"
    want = [head, *(f"  {i}. {r!r}: {sum(x[1] == r for x in rows):,}" for i, r in enumerate(regions, 1))]
    for query in ("Which region has the most orders?", "East", "West orders"):
        assert "\n".join(want) in finder(text).search(query).footer, query
    t = finder(text).tally("Rep")
    assert dict(t) == {p: sum(x[2] == p for x in rows) for p in ("Jones", "Gill")}
    assert "the column 'Rep'" in t.header and t.header.startswith("tally('Rep')")
    # A word in prose, or a cell value of a column with too many values, gets no column summary.
    assert "column " not in finder(text + "\nThe east wing is closed.\n").search("wing").footer
    assert "column 'Units'" not in finder(text).search("Units").footer  # 90 distinct values: not categorical


def test_read_starts_at_a_line_start_before_the_offset_and_takes_hits_and_matches():
    text = haystack()
    f = finder(text)
    i = text.index("amber-falcon-27")
    out = f.read(i, 400)
    assert "amber-falcon-27" in out and (text.find(out) == 0 or text[text.find(out) - 1] == "\n")
    assert f.read(f.search("amber-falcon-27")[0]) == f.read(text.index("One of the special magic numbers for amber-f"))
    assert "amber-falcon-27" in f.read(re.search("amber-falcon-27", text))


def test_passages_cover_the_text_on_line_boundaries():
    text = haystack()
    starts = passage_starts(text)
    assert starts[0] == 0 and all(text[s - 1] == "\n" for s in starts[1:])
    assert starts == sorted(set(starts))
    one_line = "word " * 5000  # no newline at all: cut at spaces
    assert all(one_line[s - 1] == " " for s in passage_starts(one_line)[1:])


def test_evidence_items_accept_the_shapes_small_models_write():
    text = "the key fact is here"
    hit = Hit(4, 12, "doc.txt line 1", "key fact")
    m = re.search("fact", text)
    items = evidence_items("a quote", 7, (3, 9), [hit, m], {"text": "t", "offset": 2}, None, True, ["  "], [[(1, 2)]])
    assert items == [{"quote": "a quote"}, {"start": 7}, {"start": 3, "end": 9}, {"start": 4, "end": 12},
                     {"start": 8, "end": 12}, {"quote": "t", "start": 2}, {"start": 1, "end": 2}]
    assert len(evidence_items(["q"] * 100)) == 32


def test_final_arguments_are_forgiving_but_not_silent():
    assert final_args(("42",), {"evidence": ["q"]}) == ("42", [["q"]])
    assert final_args(("42", "q1", "q2"), {}) == ("42", ["q1", "q2"])
    assert final_args((), {"answer": "42", "quote": "q"}) == ("42", ["q"])
    with pytest.raises(TypeError, match="unexpected keyword argument 'evidance'"):
        final_args(("42",), {"evidance": "q"})
    with pytest.raises(TypeError, match="needs the answer"):
        final_args((), {})


def test_cite_collects_for_the_next_final_and_says_where():
    text = haystack()
    f = finder(text)
    assert f.cite(text[1000:1040]).startswith("doc.txt line ")
    assert f.cite("this sentence is not there") == "not found in the context (quote exact text)"
    assert len(f.take("more")) == 3 and f.take() == []


def test_hits_pickle():
    h = Hit(1, 2, "doc.txt line 1", "x", 0.5)
    again = pickle.loads(pickle.dumps(h))
    assert (again.start, again.end, again.where, again.text, again.score) == (1, 2, "doc.txt line 1", "x", 0.5)
    hits = finder(haystack()).search("amber-falcon-27")
    back = pickle.loads(pickle.dumps(hits))
    assert repr(back) == repr(hits) and back[0].start == hits[0].start


def test_the_helpers_in_the_real_worker_and_final_evidence_on_the_wire():
    from rlm_cli.evidence import Claim

    text = haystack()
    noop = lambda fn, args: []  # noqa: E731
    with SubprocessSandbox(text, None, SandboxOptions(exec_timeout=10)) as box:
        res = box.execute("hits = search('amber-falcon-27')\nprint(hits[0].where)\nprint(cite(hits[0]))", noop)
        assert res.error is None and res.stdout.splitlines() == ["<context> line 2223", "<context> line 2223"]
        assert "reserved" in box.execute("search = 1", noop).render()
        res = box.execute("print(tally(r'numbers for (\\w+)-'))", noop)
        assert res.error is None and res.stdout.splitlines()[1:] == ["  'amber': 2", "  'ivory': 1"]
        assert "reserved" in box.execute("tally = 1", noop).render()
        res = box.execute("print(search('amber-falcon-27', tally=True, k=1))", noop)  # a keyword it does not take
        assert res.error is None and res.stdout.splitlines()[:3] == [
            "(ignored tally=: search takes query, k and regex; to count, use tally(...))",
            "search('amber-falcon-27'): 'amber-falcon-27' once, 'amber' 2 times, 'falcon' 2 times, '27' once; "
            "3 passages match, best 1:",
            "[0] <context> line 2223 (offset " + str(text.index("One of the special magic numbers for amber-f"))
            + "): One of the special magic numbers for amber-falcon-27 is: 4352381."]
        res = box.execute("FINAL('4352381', evidence=['a quote', (1, 5)])", noop)
        h = text.index("One of the special magic numbers for amber-f")
        assert res.has_final and res.final == "4352381"
        assert res.evidence == [Claim(None, h, h + 65), Claim("a quote"), Claim(None, 1, 5)]
        res = box.execute("FINAL('again')", noop)  # cite()'s items went with the first FINAL
        assert res.evidence == []


def test_a_hit_in_wrapped_prose_runs_to_the_end_of_its_sentence():
    text = ("Minutes of the meeting.\n6. Supply chain: Olav Brekke reported that Brightwater Castings missed the Q3\n"
            "delivery deadline for DS-4 housings by 19 days, which delayed 340 echo sounders. Nordvik and\n"
            "Akerby delivered on time.\n")
    (hit,) = finder(text).search("Brightwater", k=1)
    assert hit.text == ("6. Supply chain: Olav Brekke reported that Brightwater Castings missed the Q3 delivery deadline "
                        "for DS-4 housings by 19 days, which delayed 340 echo sounders.")
    assert hit.where == "doc.txt line 2"


def test_month_and_year_in_a_query_find_the_dates_that_answer_it():
    text = haystack()
    lines = text.splitlines()
    lines[40] = "Copyright (C) 1989, 1991 Free Software Foundation, Inc."
    lines[2600] = "Version 2, June 1991"
    lines[900] = "Build 20000 of version 2.2000 may run on port 1999x."  # no date: a longer number, a version
    f = finder("\n".join(lines) + "\n")
    hits = f.search("In which month and year was version 2 published?")
    header = repr(hits).splitlines()[0]
    assert hits[0].text.startswith("Version 2, June 1991")
    assert "'month' once" in header and "'year' 3 times" in header
    assert [h.where for h in f.search("year", k=5)] == ["doc.txt line 41", "doc.txt line 2601"]
    for date in ("3 May 2007", "2004-01-31", "May 1999", "March 5th, 1871"):
        one = finder(f"Nothing here.\nIt happened on {date} in the end.\n").search("date")
        assert len(one) == 1 and date in one[0].text
    may = finder("You may copy it. In may 12 things. May 3 of them.\n")
    assert repr(may.search("month")) == "search('month'): none of 'month' occurs in the context"
