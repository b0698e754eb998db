"""Evidence checking on the host (no REPL): quotes, offsets, malformed claims, children's citations, labels."""
from __future__ import annotations

from rlm_cli.evidence import Claim, adopt, assess, claims_from, verify
from rlm_cli.evidence.verify import MAX_SPAN, strip_quote

TEXT = "Alpha line one.\nThe supplier Brightwater   Castings missed the\ndeadline by 19 days.\nOmega.\n"
SOURCES = [{"name": "report.txt", "kind": "text", "start": 0, "end": len(TEXT), "pages": []}]


def one(claim: Claim, text: str = TEXT, sources=SOURCES):
    (c,) = verify([claim], text, sources)
    return c


def test_a_quote_is_verified_after_whitespace_normalisation_and_mapped_to_its_line():
    c = one(Claim(quote="Brightwater Castings missed the deadline by 19 days"))
    assert c.verified and c.source == "report.txt" and c.location == "line 2"
    assert TEXT[c.start:c.end] == "Brightwater   Castings missed the\ndeadline by 19 days"
    assert c.quote == "Brightwater Castings missed the deadline by 19 days"


def test_a_fabricated_quote_is_kept_unverified_with_the_reason():
    c = one(Claim(quote="Brightwater Castings delivered early"))
    assert not c.verified and c.reason == "not found in the context"
    assert c.source is None and c.start is None and c.quote == "Brightwater Castings delivered early"


def test_a_quote_pasted_from_several_hits_is_checked_line_by_line():
    got = verify([Claim(quote="Alpha line one.\nOmega.")], TEXT, SOURCES)  # two real lines, not adjacent
    assert [(c.verified, c.location, TEXT[c.start:c.end]) for c in got] == [
        (True, "line 1", "Alpha line one."), (True, "line 4", "Omega.")]
    mixed = verify([Claim(quote="[0] report.txt line 1 (offset 0): Alpha line one.\nA made-up second line.")],
                   TEXT, SOURCES)
    assert [(c.verified, c.reason) for c in mixed] == [(True, None), (False, "not found in the context")]
    (made_up,) = verify([Claim(quote="Made up one.\nMade up two.")], TEXT, SOURCES)  # none real: kept whole
    assert not made_up.verified and made_up.quote == "Made up one. Made up two."


def test_quote_marks_ellipses_and_the_search_hit_prefix_are_ignored():
    for q in ("“…missed the deadline by 19 days…”", "'missed the deadline by 19 days.'"[:-2] + "'",
              "[0] report.txt line 2 (offset 16): The supplier Brightwater Castings missed"):
        assert one(Claim(quote=q)).verified, q
    assert strip_quote("...the key fact...") == "the key fact"


def test_an_ellipsis_inside_a_quote_skips_text_but_both_parts_must_be_there():
    assert one(Claim(quote="The supplier ... by 19 days")).verified
    assert not one(Claim(quote="The supplier ... by 20 days")).verified


def test_a_short_quote_must_be_unique():
    assert one(Claim(quote="Omega")).verified  # once in the text
    c = one(Claim(quote="line"), "line a\nline b\n")
    assert not c.verified and "more than once" in c.reason


def test_offsets_in_range_are_verified_and_out_of_range_or_huge_ones_are_not():
    i = TEXT.index("deadline")
    c = one(Claim(start=i, end=i + 8))
    assert c.verified and c.quote == "deadline" and c.location == "line 3"
    line = one(Claim(start=i + 3))  # one offset: its line
    assert line.verified and line.quote == "deadline by 19 days."
    assert not one(Claim(start=5, end=10_000)).verified
    assert "outside" in one(Claim(start=-1, end=3)).reason
    big = "x" * (MAX_SPAN + 10)
    assert "too long" in one(Claim(start=0, end=MAX_SPAN + 5), big, [dict(SOURCES[0], end=len(big))]).reason


def test_a_quote_with_wrong_offsets_is_found_where_it_really_is():
    c = one(Claim(quote="Omega.", start=0, end=6))
    assert c.verified and TEXT[c.start:c.end] == "Omega."


def test_malformed_items_from_the_worker_are_kept_as_unverified_claims():
    claims = claims_from([{"quote": 5}, {"start": True}, {"start": "3"}, "text", {}, {"quote": "ok"},
                          {"quote": "\ud800x"}])
    assert [c.problem is not None for c in claims] == [True, True, True, True, True, False, False]
    assert claims[-1].quote == "?x"
    assert claims_from(None) == [] and claims_from("nope")[0].problem
    assert len(claims_from([{"quote": "q"}] * 500)) == 32
    assert len(claims_from([{"quote": "q" * 10_000}])[0].quote) == 2_000
    cites = verify(claims, TEXT, SOURCES)
    assert all(not c.verified for c in cites[:5])


def test_duplicates_and_nested_passages_are_merged_keeping_the_shorter():
    i = TEXT.index("deadline")
    cites = verify([Claim(start=i - 10, end=i + 20), Claim(quote="deadline by 19"), Claim(quote="deadline by 19")],
                   TEXT, SOURCES)
    assert len(cites) == 1 and cites[0].quote == "deadline by 19"


def test_pdf_pages_are_the_location():
    text = "page one text\npage two has the fact\n"
    src = [{"name": "a.pdf", "kind": "pdf", "start": 0, "end": len(text),
            "pages": [{"page": 1, "start": 0, "end": 14}, {"page": 2, "start": 14, "end": len(text)}]}]
    c = one(Claim(quote="two has the fact"), text, src)
    assert (c.source, c.location) == ("a.pdf", "p.2")


def test_child_citations_shift_by_the_slice_or_are_searched_or_stay_unverified():
    child_text = TEXT[16:]
    child_src = [{"name": "<sub-context of r>", "kind": "text", "start": 0, "end": len(child_text), "pages": []}]
    (c,) = verify([Claim(quote="deadline by 19 days")], child_text, child_src)
    (shifted,) = adopt([c], child_text, TEXT, SOURCES, "r.1")
    assert shifted.verified and shifted.via == "r.1" and TEXT[shifted.start:shifted.end] == "deadline by 19 days"
    assert (shifted.source, shifted.location) == ("report.txt", "line 3")
    rebuilt = "Some notes the model wrote.\nThe supplier missed the\ndeadline by 19 days.\n"  # not a slice of TEXT
    (c1,) = verify([Claim(quote="deadline by 19 days")], rebuilt, child_src)
    (found,) = adopt([c1], rebuilt, TEXT, SOURCES, "r.2")  # searched for in the parent's text
    assert found.verified and TEXT[found.start:found.end] == "deadline by 19 days" and found.location == "line 3"
    other = "Notes written by the model: deadline by 19 days"
    (c2,) = verify([Claim(quote="Notes written by the model")], other, child_src)
    (lost,) = adopt([c2], other, TEXT, SOURCES, "r.3")
    assert not lost.verified and "parent" in lost.reason and lost.via == "r.3"


def test_labels():
    ok = verify([Claim(quote="Omega.")], TEXT, SOURCES)
    bad = verify([Claim(quote="nowhere at all")], TEXT, SOURCES)
    assert assess(ok, False) == {"supported": True, "forced": False, "confidence": "verified"}
    assert assess(bad, False)["confidence"] == "unverified" and assess([], False)["supported"] is False
    assert assess(ok, True)["confidence"] == "forced"
