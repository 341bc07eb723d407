"""Human coding: offset mapping, quote finding, the overlap rule, CSV import and bad input."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from cli_helper import run_cli
from click.testing import Result
from fixtures.refi.corpus import write_codebook, write_corpus
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from qualcode import schema
from qualcode.coding.codebook import load_codebook
from qualcode.errors import QualcodeInputError
from qualcode.human.align import Corpus, OffsetMapper, find_quote, locate_quote, transcript_doc
from qualcode.human.csv_import import import_csv, read_coding_csv
from qualcode.human.refi_export import write_qdpx
from qualcode.human.store import CodeResolver, code_slug, coder_name, pieces_to_rows


@pytest.fixture()
def study(tmp_path: Path) -> dict[str, Path]:
    processed, raw = tmp_path / "processed", tmp_path / "raw"
    processed.mkdir()
    write_corpus(processed, raw)
    return {
        "processed": processed,
        "raw": raw,
        "codebook": write_codebook(tmp_path / "codebook.yml"),
        "root": tmp_path,
    }


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# names


def test_coder_names() -> None:
    assert coder_name("Anna Smith") == "human:Anna Smith"
    assert coder_name("human:anna") == "human:anna"
    assert coder_name("rules") == "rules"


def test_code_slug() -> None:
    assert code_slug("Pricing & rates") == "PRICING_RATES"
    assert code_slug("Café culture") == "CAFE_CULTURE"
    assert code_slug("2nd job") == "CODE_2ND_JOB"


def test_resolver_by_id_label_and_path(study) -> None:
    resolver = CodeResolver(load_codebook(study["codebook"]))
    assert resolver.resolve("BACKGROUND") == "BACKGROUND"
    assert resolver.resolve("  background AND training ") == "BACKGROUND"
    assert resolver.resolve("Referrals", ["Getting new clients"]) == "ACQ_REFERRALS"
    assert resolver.resolve("Referrals", ["Niche areas"]) == "NICHE_ENERGY"
    assert resolver.resolve("Referrals (NICHE_ENERGY)") == "NICHE_ENERGY"
    assert resolver.resolve("Pricing") == "PRICING"
    assert resolver.unknown == {"PRICING": "Pricing"}


# ---------------------------------------------------------------------------------------------
# offsets from one text onto another


def mapped(source: str, target: str, quote: str) -> str | None:
    start = source.index(quote)
    span = OffsetMapper(source, target).map_span(start, start + len(quote))
    return None if span is None else target[span[0] : span[1]]


TARGET = (
    "Interviewer: Okay, so how did you start?\n\n"
    "P01: So the short version is I didn't plan to. I did my undergrad in biomedical "
    "engineering, and I think I was fully expecting devices."
)
SOURCE = (
    "Jordan Avery: Okay, so\r\nhow did you start?\r\n\r\n"
    "Daniel Okafor: Um, so the short version is I didn't\r\nplan to. I did my undergrad in "
    "biomedical\r\nengineering, and I think I was, uh, I was fully\r\nexpecting devices.\r\n"
)


@pytest.mark.parametrize(
    ("quote", "expected"),
    [
        (
            "I did my undergrad in biomedical\r\nengineering,",
            "I did my undergrad in biomedical engineering,",
        ),
        ("the short version is I didn't\r\nplan to.", "the short version is I didn't plan to."),
        ("Um, so the short version", "So the short version"),
        ("uh, I was fully\r\nexpecting devices.", "I was fully expecting devices."),
        # the speaker label maps onto ours; cutting into turns drops it later
        ("Daniel Okafor: Um, so", "P01: So"),
        ("rt version", "rt version"),
        ("Um", None),
    ],
)
def test_offsets_map_across_wrapping_line_ends_and_cleaning(quote, expected) -> None:
    assert mapped(SOURCE, TARGET, quote) == expected


def test_identical_texts_map_one_to_one() -> None:
    mapper = OffsetMapper(TARGET, TARGET)
    assert mapper.map_span(5, 17) == (5, 17)


words = st.sampled_from(["data", "client", "I", "niche", "energy", "we'll", "model", "so"])
seps = st.sampled_from([" ", "\n", "  ", "\r\n", " \n "])
puncts = st.sampled_from(["", "", ",", "."])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(words, puncts, seps), min_size=2, max_size=30), st.data())
def test_whitespace_changes_never_move_a_selection(items, data) -> None:
    target = " ".join(w + p for w, p, _ in items)
    source = "".join(w + p + s for w, p, s in items)
    bounds = [m.span() for m in re.finditer(r"\S+", source)]
    i = data.draw(st.integers(0, len(bounds) - 1))
    j = data.draw(st.integers(i, len(bounds) - 1))
    start, end = bounds[i][0], bounds[j][1]
    span = OffsetMapper(source, target).map_span(start, end)
    assert span is not None
    assert target[span[0] : span[1]] == " ".join(source[start:end].split())


# ---------------------------------------------------------------------------------------------
# finding quotes


def test_find_quote_ignores_whitespace_case_and_quote_style() -> None:
    text = 'He said "it’s   fine".\nThen\nhe   left. It\'s fine.'
    spans, how = find_quote("“IT'S FINE”", text)
    assert how == "text" and [text[a:b] for a, b in spans] == ['"it’s   fine"']
    spans, _ = find_quote("then he left", text)
    assert [text[a:b] for a, b in spans] == ["Then\nhe   left"]
    spans, _ = find_quote("it's fine", text)
    assert len(spans) == 2


def test_find_quote_matches_whole_words_only() -> None:
    assert find_quote("I", "It is in India.")[0] == []
    assert find_quote("in", "It is in India.")[0] == [(6, 8)]


def test_find_quote_falls_back_to_words_without_punctuation() -> None:
    text = "Well -- I mean, we took anything. Anything at all!"
    spans, how = find_quote("I mean we took anything anything at all", text)
    assert how == "words"
    assert [text[a:b] for a, b in spans] == ["I mean, we took anything. Anything at all"]


def test_locate_quote_in_text_raw_and_raw_file(study) -> None:
    corpus = Corpus.load(study["processed"], raw_dir=study["raw"])
    # with the disfluency of text_raw
    found, where = locate_quote(corpus, "interview_a", "I did my undergrad in, uh, physics.")
    assert where == "text_raw"
    assert found == [[(1, 0, 30)]]
    # with a real name and line breaks from the raw file, over two turns
    found, where = locate_quote(
        corpus, "interview_a", "It was fine. Jordan Avery: And how do you find clients?"
    )
    assert where == "raw file"
    assert found == [[(1, 79, 91), (2, 0, 28)]]


def test_locate_quote_turn_id_disambiguates(study) -> None:
    corpus = Corpus.load(study["processed"])
    assert len(locate_quote(corpus, "interview_a", "How")[0]) == 2
    found, _ = locate_quote(corpus, "interview_a", "How", turn_id=2)
    assert found == [[(2, 4, 7)]]


# ---------------------------------------------------------------------------------------------
# the overlap rule


def rows_for(study, turn_id: int, quote: str) -> list[tuple[int, str]]:
    corpus = Corpus.load(study["processed"])
    text = corpus.turn_text("interview_a", turn_id)
    start = text.index(quote)
    pieces = pd.DataFrame(
        [("interview_a", turn_id, start, start + len(quote), "X", "human:a", "s", "t")],
        columns=[
            "transcript_id",
            "turn_id",
            "start_char",
            "end_char",
            "code_id",
            "coder",
            "selection_id",
            "source",
        ],
    )
    rows = pieces_to_rows(pieces, corpus)
    return list(zip(rows["sentence_id"], rows["text"], strict=True))


def test_a_selection_spilling_two_words_over_does_not_code_the_next_sentence(study) -> None:
    assert rows_for(study, 1, "I did my undergrad in physics. Then I") == [
        (0, "I did my undergrad in physics.")
    ]


def test_three_words_of_a_sentence_code_it(study) -> None:
    assert rows_for(study, 1, "undergrad in physics. Then I spent") == [
        (0, "undergrad in physics."),
        (1, "Then I spent"),
    ]


def test_a_short_highlight_codes_its_sentence(study) -> None:
    assert rows_for(study, 1, "physics") == [(0, "physics")]
    # a highlight over a sentence boundary codes the sentence it overlaps most
    assert rows_for(study, 1, "analyst. It") == [(1, "analyst.")]


def test_a_short_sentence_is_coded_when_all_its_words_are(study) -> None:
    corpus = Corpus.load(study["processed"])
    text = corpus.turn_text("interview_b", 1)
    start = text.index("energy-sector clients. Yes.")
    pieces = pd.DataFrame(
        [
            (
                "interview_b",
                1,
                start,
                start + len("energy-sector clients. Yes."),
                "X",
                "human:a",
                "s",
                "t",
            )
        ],
        columns=[
            "transcript_id",
            "turn_id",
            "start_char",
            "end_char",
            "code_id",
            "coder",
            "selection_id",
            "source",
        ],
    )
    rows = pieces_to_rows(pieces, corpus)
    assert list(rows["text"]) == ["energy-sector clients.", "Yes."]


# ---------------------------------------------------------------------------------------------
# CSV import


def test_csv_import_by_label_id_and_offsets(study) -> None:
    doc = transcript_doc(schema.read_table(study["processed"], "turns"), "interview_b")
    start = doc.text.index("I focus on forecasting")
    path = write_csv(
        study["root"] / "anna.csv",
        "transcript_id,code,quote,start,end,turn_id\n"
        'interview_a,Background and training,"I did my undergrad\nin physics.",,,\n'
        "interview_a,ACQ_REFERRALS,,0,6,3\n"
        f"interview_b,Energy work,,{start},{start + 22},\n",
    )
    result = import_csv(path, study["processed"], coder="anna", codebook_path=study["codebook"])
    rows = result.codings
    assert set(rows["coder"]) == {"human:anna"}
    got = rows[["transcript_id", "turn_id", "sentence_id", "code_id", "text"]].values.tolist()
    assert got == [
        ["interview_a", 1, 0, "BACKGROUND", "I did my undergrad in physics."],
        ["interview_a", 3, 0, "ACQ_REFERRALS", "Mostly"],
        ["interview_b", 1, 2, "ENERGY_WORK", "I focus on forecasting"],
    ]
    assert result.unknown_codes == {"ENERGY_WORK": "Energy work"}
    assert result.problems == []
    written = schema.read_table(study["processed"], "human_codings")
    assert list(written.columns[:11]) == schema.CODINGS_COLUMNS
    assert len(written) == 3
    # the code outside the codebook keeps its name, for `qualcode export`
    codes = schema.read_table(study["processed"], "imported_codes")
    assert codes[["code_id", "name", "source"]].values.tolist() == [
        ["ENERGY_WORK", "Energy work", "anna.csv"]
    ]


def test_csv_quote_spanning_turns_codes_each(study) -> None:
    path = write_csv(
        study["root"] / "q.csv",
        "transcript_id,code_id,quote\n"
        'interview_a,BACKGROUND,"It was fine. And how do you find clients?"\n',
    )
    result = import_csv(path, study["processed"], coder="q", codebook_path=study["codebook"])
    assert result.codings[["turn_id", "sentence_id"]].values.tolist() == [[1, 2], [2, 0]]


def test_csv_missing_and_ambiguous_quotes_are_reported_by_line(study) -> None:
    path = write_csv(
        study["root"] / "r.csv",
        "transcript_id,code_id,quote\n"
        "interview_a,BACKGROUND,I did my undergrad in physics.\n"
        "interview_a,BACKGROUND,words nobody said\n"
        "interview_a,BACKGROUND,How\n",
    )
    result = import_csv(path, study["processed"], coder="r", codebook_path=study["codebook"])
    assert len(result.codings) == 1
    assert result.problems == [
        "r.csv, line 3: quote not found in interview_a",
        "r.csv, line 4: quote found 2 times in interview_a (turns 0, 2); add a turn_id column "
        "to choose",
    ]


def test_csv_reimport_replaces_the_coders_rows(study) -> None:
    path = write_csv(
        study["root"] / "s.csv",
        "transcript_id,code_id,quote\ninterview_a,BACKGROUND,I did my undergrad in physics.\n",
    )
    for _ in range(2):
        import_csv(path, study["processed"], coder="s", codebook_path=study["codebook"])
    other = write_csv(
        study["root"] / "t.csv",
        "transcript_id,code_id,quote\ninterview_b,NICHE_ENERGY,Yes.\n",
    )
    import_csv(other, study["processed"], coder="t", codebook_path=study["codebook"])
    written = schema.read_table(study["processed"], "human_codings")
    assert sorted(written["coder"]) == ["human:s", "human:t"]


def _cli(study, path: Path, *, exit_code: int = 0) -> Result:
    """`qualcode import-coding PATH` into the study, as coder x."""
    return run_cli(
        "import-coding", path,
        "--processed", study["processed"],
        "--codebook", study["codebook"],
        "--raw", study["raw"],
        "--coder", "x",
        exit_code=exit_code,
    )  # fmt: skip


def test_csv_missing_columns_exit_1_and_write_nothing(study) -> None:
    path = write_csv(study["root"] / "bad.csv", "transcript_id,quote\ninterview_a,physics\n")
    result = _cli(study, path, exit_code=1)
    assert "bad.csv, line 1" in result.output
    assert "code (or code_id)" in result.output
    assert not (study["processed"] / "human_codings.parquet").exists()


def test_csv_bad_rows_exit_1_naming_each_row(study) -> None:
    path = write_csv(
        study["root"] / "bad.csv",
        "transcript_id,code,start,end,turn_id\n"
        "interview_a,BACKGROUND,0,5,1\n"
        "interview_z,BACKGROUND,0,5,1\n"
        "interview_a,BACKGROUND,0,999,1\n"
        "interview_a,BACKGROUND,7,3,1\n",
    )
    result = _cli(study, path, exit_code=1)
    assert (
        "bad.csv: 1 row(s) code 1 transcript(s) that are not in the study (interview_z): coding "
        "left from another study?" in result.output
    )
    assert "bad.csv, line 4: end 999 is beyond turn 1 of interview_a" in result.output
    assert "bad.csv, line 5: start and end must be whole numbers" in result.output
    assert not (study["processed"] / "human_codings.parquet").exists()


def test_csv_cli_reports_and_writes(study) -> None:
    path = write_csv(
        study["root"] / "ok.csv",
        "transcript_id,code,quote\n"
        "interview_a,Referrals,Mostly referrals from old colleagues.\n"
        "interview_a,Referrals,not said\n",
    )
    result = _cli(study, path)
    assert "human:x (1)" in result.output
    assert "line 3: quote not found" in result.output
    assert (study["processed"] / "human_codings.parquet").exists()


def test_unknown_file_type(study) -> None:
    path = write_csv(study["root"] / "x.txt", "hello")
    result = _cli(study, path, exit_code=1)
    assert "expected a .qdpx project or a .csv file" in result.output


def test_read_csv_needs_processed_turns(tmp_path) -> None:
    with pytest.raises(QualcodeInputError, match="run `qualcode ingest`"):
        Corpus.load(tmp_path)


def test_csv_with_empty_code_is_bad(study) -> None:
    path = write_csv(study["root"] / "e.csv", "transcript_id,code,quote\ninterview_a,,physics\n")
    corpus = Corpus.load(study["processed"])
    with pytest.raises(QualcodeInputError, match="line 2: empty code"):
        read_coding_csv(path, corpus, coder="e", codebook=None)


def test_csv_description_and_parent_of_new_codes_are_kept(study) -> None:
    path = write_csv(
        study["root"] / "desc.csv",
        "transcript_id,code,quote,description,parent\n"
        'interview_a,Energy work,"I did my undergrad","Work for   utilities,\ngrids",Background\n'
        'interview_a,Energy work,"in physics",,\n'
        'interview_a,Side gigs,"in physics",,Money matters\n',
    )
    import_csv(path, study["processed"], coder="d", codebook_path=study["codebook"])
    codes = schema.read_table(study["processed"], "imported_codes")
    got = codes[["code_id", "name", "description", "parent_id"]].values.tolist()
    # the description is kept (whitespace folded) and the first row that gives one wins; a
    # parent named by label resolves to its codebook id, a new parent is a new code
    assert got == [
        ["ENERGY_WORK", "Energy work", "Work for utilities, grids", "BACKGROUND"],
        ["MONEY_MATTERS", "Money matters", "", None],
        ["SIDE_GIGS", "Side gigs", "", "MONEY_MATTERS"],
    ]
    # and `qualcode export qdpx` gives them back under their parents, with their names
    out = study["root"] / "out.qdpx"
    write_qdpx(out, study["processed"], codebook=load_codebook(study["codebook"]))
    with zipfile.ZipFile(out) as archive:
        xml = etree.fromstring(archive.read("project.qde"))
    ns = {"q": xml.nsmap[None]}
    side = xml.xpath("//q:Code[@name='Money matters']/q:Code/@name", namespaces=ns)
    assert side == ["Side gigs"]
    energy = xml.xpath("//q:Code[@name='Energy work']", namespaces=ns)[0]
    assert energy.getparent().get("name") == "Background and training"
    assert energy.findtext("q:Description", namespaces=ns) == "Work for utilities, grids"
