"""REFI-QDA: export validates and round-trips; foreign projects import onto our turns; bad input."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import xmlschema
from cli_helper import run_cli
from click.testing import Result
from fixtures.refi.corpus import (
    PARTICIPANTS,
    RAW_FILE_A,
    write_project,
)
from lxml import etree

from qualcode import schema
from qualcode.coding.codebook import load_codebook
from qualcode.errors import QualcodeInputError
from qualcode.human import refi, refi_export, refi_import
from qualcode.human.align import Corpus
from qualcode.human.store import CodeResolver

SHARED_SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "refi-qda" / "Project.xsd"
NS = refi.NS


def q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


@pytest.fixture()
def project(tmp_path: Path) -> dict[str, Path]:
    return write_project(tmp_path)


def human_rows(processed: Path, codebook: Path) -> pd.DataFrame:
    """Two human selections: one spanning two sentences, one with two codes."""
    from qualcode.human.store import finish_rows, pieces_to_rows

    corpus = Corpus.load(processed)
    pieces = pd.DataFrame(
        [
            ("interview_a", 1, 0, 78, "BACKGROUND", "human:anna", "s1", "x"),
            ("interview_a", 3, 38, 78, "ACQ_INBOUND", "human:anna", "s2", "x"),
            ("interview_a", 3, 38, 78, "NEW_CODE", "human:anna", "s2", "x"),
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
    return finish_rows(pieces_to_rows(pieces, corpus), codebook_version=2)


# ---------------------------------------------------------------------------------------------
# Building foreign projects in the test


def make_qdpx(
    path: Path,
    *,
    text: str,
    selections: list[tuple[int, int, list[str]]],
    codes: dict[str, str | None] | None = None,
    source_name: str = "Interview A.txt",
    text_path: str | None = "interview_a.txt",
    encoding_prefix: bytes = b"",
    user_name: str = "Anna",
    extra_code_refs: list[str] = (),
    project_file: str = "project.qde",
    descriptions: dict[str, str] | None = None,
) -> Path:
    """A small project as NVivo or QualCoder would write it. codes: name -> parent name;
    descriptions: name -> the code's Description."""
    codes = codes or {"Background and training": None, "Pricing": None}
    guids = {name: refi.guid("test-code", name) for name in codes}
    user = refi.guid("test-user", user_name)
    root = etree.Element(q("Project"), nsmap={None: NS}, name="Test")
    users = etree.SubElement(root, q("Users"))
    etree.SubElement(users, q("User"), guid=user, name=user_name)
    book = etree.SubElement(etree.SubElement(root, q("CodeBook")), q("Codes"))
    elements = {}
    for name, parent in codes.items():
        holder = book if parent is None else elements[parent]
        elements[name] = etree.SubElement(
            holder, q("Code"), guid=guids[name], name=name, isCodable="true"
        )
        if descriptions and name in descriptions:
            etree.SubElement(elements[name], q("Description")).text = descriptions[name]
    sources = etree.SubElement(root, q("Sources"))
    attrs = {"guid": refi.guid("test-source", source_name), "name": source_name}
    if text_path is not None:
        attrs["plainTextPath"] = text_path
    source = etree.SubElement(sources, q("TextSource"), **attrs)
    if text_path is None:
        etree.SubElement(source, q("PlainTextContent")).text = text
    for i, (start, end, names) in enumerate(selections):
        sel = etree.SubElement(
            source,
            q("PlainTextSelection"),
            guid=refi.guid("test-sel", i),
            startPosition=str(start),
            endPosition=str(end),
            creatingUser=user,
        )
        for name in names:
            coding = etree.SubElement(
                sel, q("Coding"), guid=refi.guid("test-coding", i, name), creatingUser=user
            )
            etree.SubElement(coding, q("CodeRef"), targetGUID=guids.get(name, name))
    for target in extra_code_refs:
        sel = etree.SubElement(
            source,
            q("PlainTextSelection"),
            guid=refi.guid("x", target),
            startPosition="0",
            endPosition="3",
        )
        coding = etree.SubElement(sel, q("Coding"), guid=refi.guid("y", target))
        etree.SubElement(coding, q("CodeRef"), targetGUID=target)
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(project_file, xml)
        if text_path is not None:
            archive.writestr(f"sources/{text_path}", encoding_prefix + text.encode("utf-8"))
    return path


def span_of(text: str, quote: str) -> tuple[int, int]:
    start = text.index(quote)
    return start, start + len(quote)


# ---------------------------------------------------------------------------------------------
# Export


def test_packaged_schema_is_the_shared_schema() -> None:
    if not SHARED_SCHEMA.exists():
        pytest.skip("../shared/refi-qda is not beside this checkout")
    assert refi.SCHEMA_PATH.read_bytes() == SHARED_SCHEMA.read_bytes()


def test_export_validates_and_holds_every_transcript_and_coding(project) -> None:
    processed, codebook = project["processed"], load_codebook(project["codebook"])
    schema.write_table(
        human_rows(processed, project["codebook"]),
        processed / "human_codings.parquet",
        columns=schema.CODINGS_COLUMNS,
    )
    out = project["root"] / "out.qdpx"
    counts = refi_export.write_qdpx(
        out, processed, codebook=codebook, participants_path=project["raw"] / "participants.csv"
    )
    with zipfile.ZipFile(out) as archive:
        xml = archive.read("project.qde")
        project_schema = xmlschema.XMLSchema(
            str(SHARED_SCHEMA if SHARED_SCHEMA.exists() else refi.SCHEMA_PATH)
        )
        project_schema.validate(xml.decode("utf-8"))
        root = etree.fromstring(xml)
        turns = schema.read_table(processed, "turns")
        text_sources = root.findall(f"{q('Sources')}/{q('TextSource')}")
        assert sorted(s.get("name") for s in text_sources) == ["interview_a", "interview_b"]
        for source in text_sources:
            assert source.get("plainTextPath") == f"internal://{source.get('guid')}.txt"
            data = archive.read(f"Sources/{source.get('guid')}.txt")
            assert not data.startswith(b"\xef\xbb\xbf")
            text = data.decode("utf-8")
            for turn in turns[turns["transcript_id"] == source.get("name")]["text"]:
                assert turn in text
            for sel in source.findall(q("PlainTextSelection")):
                start, end = int(sel.get("startPosition")), int(sel.get("endPosition"))
                assert text[start:end].strip() == text[start:end]
                assert sel.find(q("Coding")).get("creatingUser") == sel.get("creatingUser")
    users = {u.get("name") for u in root.iter(q("User"))}
    assert users == {"rules", "human:anna"}
    # 4 rule codings + 3 human sentence rows with 2 codes on one of them
    assert counts["codings"] == 4 + 2 + 2
    # unknown human code exported at the top level under its id
    top = [c.get("name") for c in root.find(f"{q('CodeBook')}/{q('Codes')}")]
    assert "NEW_CODE" in top


def test_export_is_deterministic(project) -> None:
    codebook = load_codebook(project["codebook"])
    a, b = project["root"] / "a.qdpx", project["root"] / "b.qdpx"
    refi_export.write_qdpx(a, project["processed"], codebook=codebook)
    refi_export.write_qdpx(b, project["processed"], codebook=codebook)
    assert a.read_bytes() == b.read_bytes()


def test_export_codebook_hierarchy_descriptions_and_sibling_names(tmp_path, project) -> None:
    book = tmp_path / "dupes.yml"
    book.write_text(
        project["codebook"].read_text(encoding="utf-8")
        + "  - id: ACQ_OTHER\n    label: referrals\n    parent: CLIENT_ACQUISITION\n"
        "    definition: A second code with a sibling's label.\n",
        encoding="utf-8",
    )
    codebook = load_codebook(book)
    out = tmp_path / "p.qdpx"
    refi_export.write_qdpx(out, project["processed"], codebook=codebook)
    root = etree.fromstring(zipfile.ZipFile(out).read("project.qde"))
    clients = next(c for c in root.iter(q("Code")) if c.get("name") == "Getting new clients")
    children = [c.get("name") for c in clients.findall(q("Code"))]
    assert children == ["Referrals (ACQ_REFERRALS)", "Inbound leads", "referrals (ACQ_OTHER)"]
    assert len({n.casefold() for n in children}) == len(children)
    assert clients.findtext(q("Description")) == "How they find clients."
    for code in root.iter(q("Code")):
        assert code.get("guid") == refi.guid("code", _code_id(code, codebook))


def _code_id(code: etree._Element, codebook) -> str:
    resolver = CodeResolver(codebook)
    parents = []
    parent = code.getparent()
    while parent.tag == q("Code"):
        parents.insert(0, parent.get("name"))
        parent = parent.getparent()
    return resolver.known(code.get("name"), parents) or code.get("name")


def test_export_cases_carry_attributes_but_no_names(project) -> None:
    out = project["root"] / "p.qdpx"
    refi_export.write_qdpx(
        out,
        project["processed"],
        codebook=load_codebook(project["codebook"]),
        participants_path=project["raw"] / "participants.csv",
    )
    blob = b"".join(zipfile.ZipFile(out).read(n) for n in zipfile.ZipFile(out).namelist())
    for name in (b"Ada Lovelace", b"Grace Hopper", b"Jordan Avery"):
        assert name not in blob
    root = etree.fromstring(zipfile.ZipFile(out).read("project.qde"))
    cases = {c.get("name"): c for c in root.iter(q("Case"))}
    assert set(cases) == {"P01", "P02"}
    variables = {v.get("guid"): v for v in root.iter(q("Variable"))}
    years = next(v for v in variables.values() if v.get("name") == "years_freelancing")
    assert years.get("typeOfVariable") == "Integer"
    values = {
        variables[v.find(q("VariableRef")).get("targetGUID")].get("name"): v[1].text
        for v in cases["P01"].findall(q("VariableValue"))
    }
    assert values["main_niche"] == "finance" and values["years_freelancing"] == "6"
    assert cases["P01"].find(q("SourceRef")).get("targetGUID") == refi.guid("source", "interview_a")


def test_round_trip_keeps_every_coding_and_offset(project, tmp_path) -> None:
    processed = project["processed"]
    codebook = load_codebook(project["codebook"])
    humans = human_rows(processed, project["codebook"])
    schema.write_table(humans, processed / "human_codings.parquet", columns=schema.CODINGS_COLUMNS)
    out = tmp_path / "p.qdpx"
    refi_export.write_qdpx(out, processed, codebook=codebook)

    # reading back: every coding of every coder, same offsets
    parsed = refi.read_qdpx(out)
    corpus = Corpus.load(processed)
    ids = {
        s.guid: refi_import.match_transcript(s.name, corpus.transcript_ids) for s in parsed.sources
    }
    pieces, counts = refi_import.project_pieces(
        parsed, corpus, ids, CodeResolver(codebook), keep_machine=True
    )
    key = ["transcript_id", "turn_id", "start_char", "end_char", "code_id", "coder"]
    rules = schema.read_table(processed, "codings")
    expected = pd.concat([rules[key], humans[key]]).astype(str).sort_values(key)
    got = pieces[key].astype(str).sort_values(key)
    assert got.reset_index(drop=True).equals(expected.reset_index(drop=True))
    assert counts["uncoded_selections"] == 0

    # importing into a fresh copy: the human codings come back identical
    fresh = tmp_path / "fresh"
    shutil.copytree(processed, fresh)
    (fresh / "human_codings.parquet").unlink()
    result = refi_import.import_qdpx(out, fresh, codebook_path=project["codebook"])
    assert result.n_machine_codings == 4
    # NEW_CODE is not in the codebook: it went out under its id and came back to it, listed
    assert result.unknown_codes == {"NEW_CODE": "NEW_CODE"}
    back = schema.read_table(fresh, "human_codings")
    columns = [
        "transcript_id",
        "turn_id",
        "sentence_id",
        "code_id",
        "start_char",
        "end_char",
        "text",
        "coder",
    ]
    assert back[columns].astype(str).equals(humans[columns].astype(str))


def test_round_trip_tells_apart_codes_with_the_same_label(project, tmp_path) -> None:
    # NICHE_ENERGY and ACQ_REFERRALS are both labelled "Referrals" under different parents
    out = tmp_path / "p.qdpx"
    refi_export.write_qdpx(out, project["processed"], codebook=load_codebook(project["codebook"]))
    parsed = refi.read_qdpx(out)
    resolver = CodeResolver(load_codebook(project["codebook"]))
    mapped = {resolver.resolve(c.name, parsed.code_path(g)[:-1]) for g, c in parsed.codes.items()}
    assert {"ACQ_REFERRALS", "NICHE_ENERGY"} <= mapped


def test_export_qdc_holds_the_codebook(project, tmp_path) -> None:
    codebook = load_codebook(project["codebook"])
    out = refi_export.write_qdc(tmp_path / "book.qdc", codebook)
    root = etree.fromstring(out.read_bytes())
    assert root.tag == f"{{{refi.CODEBOOK_NS}}}CodeBook"
    codes = list(root.iter(f"{{{refi.CODEBOOK_NS}}}Code"))
    assert len(codes) == len(codebook)
    assert not refi.schema_errors(refi_export.qdc_as_project(out.read_bytes()))


# ---------------------------------------------------------------------------------------------
# Importing foreign projects


@pytest.mark.parametrize("crlf_as_one", [True, False])
def test_import_raw_text_project_onto_turns(project, tmp_path, crlf_as_one) -> None:
    text = RAW_FILE_A.replace("\r\n", "\n") if crlf_as_one else RAW_FILE_A
    spans = [
        (*span_of(text, "I did my undergrad in, uh, physics."), ["Background and training"]),
        # from the end of turn 1 over the interviewer into turn 3
        (*span_of(text, "It was fine."), []),
        (
            *span_of(text, "Sometimes a client finds" + ("\n" if crlf_as_one else "\r\n") + "me"),
            ["Pricing"],
        ),
    ]
    path = make_qdpx(
        tmp_path / "anna.qdpx", text=RAW_FILE_A, selections=spans, encoding_prefix=b"\xef\xbb\xbf"
    )
    parsed = refi.read_qdpx(path)
    assert parsed.sources[0].crlf_as_one is crlf_as_one
    result = refi_import.import_qdpx(path, project["processed"], codebook_path=project["codebook"])
    rows = result.codings
    assert set(rows["coder"]) == {"human:Anna"}
    assert result.n_uncoded_selections == 1
    assert result.unknown_codes == {"PRICING": "Pricing"}
    background = rows[rows["code_id"] == "BACKGROUND"].iloc[0]
    assert (background["turn_id"], background["sentence_id"]) == (1, 0)
    assert background["text"] == "I did my undergrad in physics."
    pricing = rows[rows["code_id"] == "PRICING"].iloc[0]
    assert (pricing["turn_id"], pricing["sentence_id"]) == (3, 1)
    assert pricing["text"] == "Sometimes a client finds me"
    written = schema.read_table(project["processed"], "human_codings")
    assert len(written) == len(rows)


def test_import_spanning_turns_and_inline_text(project, tmp_path) -> None:
    text = RAW_FILE_A.replace("\r\n", "\n")
    start = text.index("It was fine.")
    end = text.index("Mostly referrals from old colleagues.") + len("Mostly referrals from old")
    path = make_qdpx(
        tmp_path / "inline.qdpx",
        text=text,
        text_path=None,
        source_name="interview_a",
        selections=[(start, end, ["Background and training"])],
    )
    result = refi_import.import_qdpx(path, project["processed"], codebook_path=project["codebook"])
    got = result.codings[["turn_id", "sentence_id", "text"]].values.tolist()
    # turn 1's last sentence, the interviewer's question, turn 3's first sentence (3+ words)
    assert got == [
        [1, 2, "It was fine."],
        [2, 0, "And how do you find clients?"],
        [3, 0, "Mostly referrals from old"],
    ]


def test_round_trip_keeps_names_and_descriptions_of_codes_outside_the_codebook(
    project, tmp_path
) -> None:
    text = RAW_FILE_A
    codes = {"Ways of thinking": None, "abstraction": "Ways of thinking", "Pricing": None}
    descriptions = {
        "Ways of thinking": "How people reason about their work.",
        "abstraction": "Stepping back from the case to the general idea.",
    }
    selections = [
        (*span_of(text, "I did my undergrad in, uh, physics."), ["abstraction"]),
        (*span_of(text, "Mostly referrals from old colleagues."), ["abstraction", "Pricing"]),
        (*span_of(text, "Sometimes a client finds"), ["Background and training"]),
    ]
    path = make_qdpx(
        tmp_path / "anna.qdpx",
        text=text,
        selections=selections,
        codes={**codes, "Background and training": None},
        descriptions=descriptions,
    )
    processed = project["processed"]
    first = refi_import.import_qdpx(path, processed, codebook_path=project["codebook"])
    assert set(first.codings["code_id"]) == {"ABSTRACTION", "PRICING", "BACKGROUND"}
    kept = schema.read_table(processed, "imported_codes").set_index("code_id")
    assert kept.loc["ABSTRACTION", "name"] == "abstraction"
    assert kept.loc["ABSTRACTION", "description"] == descriptions["abstraction"]
    assert kept.loc["ABSTRACTION", "parent_id"] == "WAYS_OF_THINKING"
    assert kept.loc["WAYS_OF_THINKING", "source"] == "anna.qdpx"

    out = tmp_path / "out.qdpx"
    refi_export.write_qdpx(out, processed, codebook=load_codebook(project["codebook"]))
    parsed = refi.read_qdpx(out)
    by_name = {c.name: c for c in parsed.codes.values()}
    for name, parent in codes.items():
        assert name in by_name, name
        assert by_name[name].description == descriptions.get(name, "")
        got_parent = by_name[name].parent
        assert (parsed.codes[got_parent].name if got_parent else None) == parent
    assert "ABSTRACTION" not in by_name and "PRICING" not in by_name

    fresh = tmp_path / "fresh"
    shutil.copytree(processed, fresh)
    for name in ("human_codings.parquet", "imported_codes.parquet"):
        (fresh / name).unlink()
    again = refi_import.import_qdpx(out, fresh, codebook_path=project["codebook"])
    columns = ["transcript_id", "turn_id", "sentence_id", "code_id", "start_char", "end_char",
               "text", "coder"]  # fmt: skip
    assert again.codings[columns].astype(str).equals(first.codings[columns].astype(str))
    back = schema.read_table(fresh, "imported_codes")
    assert back.drop(columns="source").equals(kept.reset_index().drop(columns="source"))


def test_reimport_replaces_instead_of_doubling(project, tmp_path) -> None:
    text = RAW_FILE_A
    path = make_qdpx(
        tmp_path / "a.qdpx",
        text=text,
        selections=[(*span_of(text, "Mostly referrals"), ["Background and training"])],
    )
    refi_import.import_qdpx(path, project["processed"], codebook_path=project["codebook"])
    refi_import.import_qdpx(path, project["processed"], codebook_path=project["codebook"])
    assert len(schema.read_table(project["processed"], "human_codings")) == 1


def _new_source_project(folder: Path) -> Path:
    """A project whose one source (interview_c) is not among the processed transcripts."""
    text = (
        "Interviewer: What is your niche?\n\n"
        "P03: I build forecasting models for wind farms. It keeps me busy.\n"
    )
    return make_qdpx(
        folder / "new.qdpx",
        text=text,
        source_name="Interview C.txt",
        text_path="interview_c.txt",
        selections=[(*span_of(text, "I build forecasting models for wind farms."), ["Pricing"])],
    )


def test_import_ingests_a_source_that_is_not_processed_yet(project, tmp_path) -> None:
    path = _new_source_project(tmp_path)
    keys = tmp_path / "keys"
    result = refi_import.import_qdpx(
        path, project["processed"], codebook_path=project["codebook"], keys_dir=keys
    )
    assert result.ingested == ["interview_c"]
    turns = schema.read_table(project["processed"], "turns")
    assert "interview_c" in set(turns["transcript_id"])
    row = result.codings.iloc[0]
    assert row["transcript_id"] == "interview_c"
    assert "wind farms" in row["text"]


def test_import_command_warns_that_a_source_outside_raw_will_drop_out(project, tmp_path) -> None:
    path = _new_source_project(tmp_path)
    result = _cli_import(path, project, "--keys", tmp_path / "keys")
    assert "ingested from the project: interview_c" in result.output
    assert f"interview_c not in {project['raw']}" in result.output
    assert "will drop them" in result.output


# ---------------------------------------------------------------------------------------------
# Bad input


def _cli_import(path: Path, project, *options: object, exit_code: int = 0) -> Result:
    """`qualcode import-coding PATH OPTIONS` into the project."""
    return run_cli(
        "import-coding", path,
        "--processed", project["processed"],
        "--codebook", project["codebook"],
        "--raw", project["raw"],
        *options,
        exit_code=exit_code,
    )  # fmt: skip


def test_zip_without_project_qde(project, tmp_path) -> None:
    path = make_qdpx(tmp_path / "a.qdpx", text="x", selections=[], project_file="other.xml")
    result = _cli_import(path, project, exit_code=1)
    assert "no project.qde" in result.output
    assert not (project["processed"] / "human_codings.parquet").exists()


def test_not_a_zip(project, tmp_path) -> None:
    path = tmp_path / "a.qdpx"
    path.write_text("not a zip", encoding="utf-8")
    with pytest.raises(QualcodeInputError, match="zip file"):
        refi.read_qdpx(path)


def test_invalid_xml_reports_the_first_schema_errors(project, tmp_path) -> None:
    path = make_qdpx(tmp_path / "a.qdpx", text="hello there", selections=[])
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("project.qde").replace(b' isCodable="true"', b"")
    broken = tmp_path / "broken.qdpx"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("project.qde", xml)
        archive.writestr("sources/interview_a.txt", "hello there")
    result = _cli_import(broken, project, exit_code=1)
    assert "does not validate" in result.output
    assert "isCodable" in result.output and "Code" in result.output
    assert not (project["processed"] / "human_codings.parquet").exists()


def test_not_well_formed_xml(project, tmp_path) -> None:
    path = tmp_path / "a.qdpx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.qde", "<Project><oops></Project>")
    with pytest.raises(QualcodeInputError, match="well-formed") as err:
        refi.read_qdpx(path)
    assert err.value.line == 1


def test_offsets_beyond_the_text(project, tmp_path) -> None:
    path = make_qdpx(tmp_path / "a.qdpx", text="Short text.", selections=[(0, 500, ["Pricing"])])
    result = _cli_import(path, project, exit_code=1)
    assert "endPosition 500 is beyond the end of the text" in result.output
    assert "PlainTextSelection" in result.output
    assert not (project["processed"] / "human_codings.parquet").exists()


def test_code_ref_to_a_missing_code(project, tmp_path) -> None:
    missing = refi.guid("nowhere", 1)
    path = make_qdpx(
        tmp_path / "a.qdpx", text="Some text here.", selections=[], extra_code_refs=[missing]
    )
    result = _cli_import(path, project, exit_code=1)
    assert f"CodeRef to {missing}" in result.output
    assert "Coding" in result.output
    assert not (project["processed"] / "human_codings.parquet").exists()


def test_missing_source_file(project, tmp_path) -> None:
    path = make_qdpx(tmp_path / "a.qdpx", text="x", selections=[], text_path="gone.txt")
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("project.qde")
    bare = tmp_path / "bare.qdpx"
    with zipfile.ZipFile(bare, "w") as archive:
        archive.writestr("project.qde", xml)
    with pytest.raises(QualcodeInputError, match="gone.txt"):
        refi.read_qdpx(bare)


def test_cli_export_all_kinds(project, tmp_path) -> None:
    common = [
        "--processed", project["processed"],
        "--codebook", project["codebook"],
        "--raw", project["raw"],
    ]  # fmt: skip
    for kind in ("qdpx", "qdc", "csv"):
        out = tmp_path / f"out.{kind}"
        run_cli("export", kind, out, *common)
        assert out.exists()
    quotes = pd.read_csv(tmp_path / "out.csv")
    assert "participant_label" not in quotes.columns
    assert {
        "pseudonym",
        "main_niche",
        "speaker",
        "section",
        "code_path",
        "quote",
        "turn_before",
        "turn_after",
    } <= set(quotes.columns)
    row = quotes[quotes["code_id"] == "ACQ_REFERRALS"].iloc[0]
    assert row["code_path"] == "CLIENT_ACQUISITION > ACQ_REFERRALS"
    assert row["quote"] == "Mostly referrals from old colleagues."
    assert row["turn_before"] == "Interviewer: And how do you find clients?"
    assert pd.isna(row["turn_after"])
    assert "Ada Lovelace" not in (tmp_path / "out.csv").read_text(encoding="utf-8")
    run_cli("export", "pdf", tmp_path / "x", *common, exit_code=2)


def test_participants_fixture_has_names_to_keep_out() -> None:
    # the fixture must hold names, or the no-names tests above prove nothing
    assert "Ada Lovelace" in PARTICIPANTS


# ---------------------------------------------------------------------------------------------
# Hostile projects


def _only_project_qde(path: Path, out: Path, *, edit=None, extra: dict[str, bytes] | None = None):
    """The project of `path` without its source files (optionally edited, with other members)."""
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("project.qde")
    if edit is not None:
        xml = edit(xml)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project.qde", xml)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return out


def _secret(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("Interviewer: SECRET?\n\nP01: TOPSECRET password.\n", encoding="utf-8")
    return secret


def _import_args(path: Path, project, *more: str) -> list[str]:
    return [
        "import-coding", str(path), "--processed", str(project["processed"]),
        "--codebook", str(project["codebook"]), "--raw", str(project["raw"]),
        "--keys", str(project["root"] / "keys"), *more,
    ]  # fmt: skip


def _assert_nothing_read(result, project) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "TOPSECRET" not in result.output
    assert not (project["processed"] / "human_codings.parquet").exists()
    turns = schema.read_table(project["processed"], "turns")
    assert not turns["text"].str.contains("TOPSECRET").any()


@pytest.mark.parametrize("kind", ["absolute", "relative", "bare", "basePath"])
def test_qdpx_cannot_read_files_outside_the_archive(project, tmp_path, kind) -> None:
    secret = _secret(tmp_path)
    depth = "../" * len(secret.parent.parts)
    ref = {
        "absolute": f"absolute://{secret}",
        "relative": f"relative://{depth}{secret.relative_to('/')}",
        "bare": str(secret),
        "basePath": "secret.txt",
    }[kind]
    source = make_qdpx(
        tmp_path / "a.qdpx", text="x y z", selections=[(0, 1, ["Pricing"])], text_path=ref
    )

    def edit(xml: bytes) -> bytes:
        if kind == "basePath":
            return xml.replace(b"<Project ", f'<Project basePath="{secret.parent}" '.encode(), 1)
        return xml

    hostile = _only_project_qde(source, tmp_path / "hostile.qdpx", edit=edit)
    result = run_cli(*_import_args(hostile, project), exit_code=None)
    _assert_nothing_read(result, project)
    assert "--sources" in result.output
    # naming a sources folder does not open the rest of the disk either
    inside = tmp_path / "sources"
    inside.mkdir()
    result = run_cli(*_import_args(hostile, project, "--sources", str(inside)), exit_code=None)
    _assert_nothing_read(result, project)


def test_qdpx_sources_folder_refuses_symlinks_and_reads_inside(project, tmp_path) -> None:
    secret = _secret(tmp_path)
    inside = tmp_path / "sources"
    inside.mkdir()
    (inside / "linked.txt").symlink_to(secret)
    source = make_qdpx(
        tmp_path / "a.qdpx", text="x", selections=[(0, 1, ["Pricing"])], text_path="linked.txt"
    )
    hostile = _only_project_qde(source, tmp_path / "hostile.qdpx")
    result = run_cli(*_import_args(hostile, project, "--sources", str(inside)), exit_code=None)
    _assert_nothing_read(result, project)
    assert "symbolic link" in result.output
    # a real file in the named folder is read
    text = RAW_FILE_A
    good = make_qdpx(
        tmp_path / "b.qdpx",
        text=text,
        selections=[(*span_of(text, "Mostly referrals"), ["Background and training"])],
        text_path="relative://interview_a.txt",
    )
    (inside / "interview_a.txt").write_text(text, encoding="utf-8", newline="")
    good = _only_project_qde(good, tmp_path / "good.qdpx")
    result = run_cli(*_import_args(good, project, "--sources", str(inside)), exit_code=None)
    assert result.exit_code == 0, result.output
    assert len(schema.read_table(project["processed"], "human_codings")) == 1


def test_qdpx_member_that_inflates_past_the_limit_is_refused(project, tmp_path) -> None:
    params = tmp_path / "params.yml"
    params.write_text("limits:\n  max_file_mb: 1\n", encoding="utf-8")
    source = make_qdpx(tmp_path / "a.qdpx", text="x", selections=[], text_path="big.txt")
    bomb = _only_project_qde(
        source, tmp_path / "bomb.qdpx", extra={"sources/big.txt": b"a" * (20 * 1024 * 1024)}
    )
    assert bomb.stat().st_size < 100_000
    with pytest.raises(QualcodeInputError, match=r"sources/big.txt.*max_file_mb \(1 MB\)"):
        refi_import.import_qdpx(bomb, project["processed"], params_path=params)
    # a member whose header understates its size is refused too (stopped as it is read)
    archive = refi._Zip(zipfile.ZipFile(bomb), path=bomb, limit=1024 * 1024)
    archive.archive.getinfo("sources/big.txt").file_size = 10
    with pytest.raises(QualcodeInputError, match="sources/big.txt"):
        archive.read("sources/big.txt")


def test_qdpx_duplicate_guids_name_both_elements(project, tmp_path) -> None:
    source = make_qdpx(tmp_path / "a.qdpx", text="Some text.", selections=[])
    pricing = refi.guid("test-code", "Pricing").encode()
    background = refi.guid("test-code", "Background and training").encode()
    hostile = _only_project_qde(
        source,
        tmp_path / "dup.qdpx",
        edit=lambda xml: xml.replace(pricing, background),
        extra={"sources/interview_a.txt": b"Some text."},
    )
    with pytest.raises(QualcodeInputError, match="used by both") as info:
        refi.read_qdpx(hostile)
    assert "'Background and training'" in str(info.value) and "'Pricing'" in str(info.value)


def test_qdpx_source_matched_by_name_onto_unrelated_text_is_refused(project, tmp_path) -> None:
    text = (
        "Interviewer: Tell me about the weather today.\n\n"
        "P01: It rained all morning and the garden is soaked, the tomatoes are ruined.\n"
    )
    path = make_qdpx(
        tmp_path / "a.qdpx",
        text=text,
        source_name="Interview A.txt",
        selections=[(*span_of(text, "It rained all morning"), ["Background and training"])],
    )
    result = run_cli(*_import_args(path, project), exit_code=None)
    assert result.exit_code == 1, result.output
    assert "interview_a" in result.output and "expected the same interview" in result.output
    assert not (project["processed"] / "human_codings.parquet").exists()
