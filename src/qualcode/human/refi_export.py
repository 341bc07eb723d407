"""Our project written as REFI-QDA (`qualcode export qdpx`) and our codebook as a .qdc
(`qualcode export qdc`), for NVivo, ATLAS.ti, MAXQDA and QualCoder.

Deterministic GUIDs (uuid5), the codebook hierarchy with definitions as Description (codes
outside the codebook with the name, description and parent they were imported with), one
TextSource per transcript (the cleaned, pseudonymised text as "speaker: text" turns) stored as
`Sources/<guid>.txt` (UTF-8, no byte-order mark), one PlainTextSelection per coded span and coder
with a Coding per code, one User per coder, and the participants as Cases (pseudonym and attributes
of participants.csv; never a name). Every file written validates against the REFI-QDA schema.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections import Counter
from pathlib import Path

import pandas as pd
from lxml import etree

from qualcode import schema
from qualcode.coding.codebook import Codebook
from qualcode.human.align import transcript_doc
from qualcode.human.refi import CODEBOOK_NS, NS, PROJECT_FILE, ZIP_DATE, guid, qname, schema_errors
from qualcode.human.store import read_imported_codes
from qualcode.participants import read_participants
from qualcode.study_ids import apply_study_ids, study_id_map

logger = logging.getLogger(__name__)


def _unique_names(entries: list[tuple[str, str | None, str]]) -> dict[str, str]:
    """Names unique among siblings: a repeated name gets its id in brackets.

    entries: (code id, parent id, name).
    RETURNS (dict[str, str]): code id -> name.
    """
    seen: Counter = Counter((parent, name.casefold()) for _, parent, name in entries)
    return {
        code_id: (name if seen[(parent, name.casefold())] == 1 else f"{name} ({code_id})")
        for code_id, parent, name in entries
    }


OUTSIDE_CODEBOOK = "A code used in imported coding, not in the codebook."


def _code_entries(
    codebook: Codebook | None, extra_ids: list[str], imported: pd.DataFrame | None = None
) -> list[tuple[str, str | None, str, str]]:
    """The codes to export: the codebook's, then the extra codes (those the codings use that the
    codebook lacks) with the name, description and parent they were imported with
    (imported_codes.parquet), and the imported parents they sit under.

    RETURNS (list): (code id, parent id, name, description), parents before their children.
    """
    entries = []
    known = set()
    if codebook is not None:
        for code in codebook:
            entries.append((code.id, code.parent, code.label, code.definition))
            known.add(code.id)
    kept: dict[str, tuple[str, str, str | None]] = {}
    if imported is not None:
        for row in imported.itertuples(index=False):
            parent = row.parent_id if isinstance(row.parent_id, str) else None
            description = row.description if isinstance(row.description, str) else ""
            kept[str(row.code_id)] = (str(row.name), description, parent)
    extra = set(extra_ids) - known
    for code_id in sorted(extra):  # an imported code's imported parents go too
        parent = kept.get(code_id, ("", "", None))[2]
        while parent is not None and parent not in known and parent in kept:
            if parent in extra:
                break
            extra.add(parent)
            parent = kept[parent][2]
    placed: set[str] = set(known)
    pending = sorted(extra)
    while pending:  # parents first, so that every child finds its parent's element
        ready = [c for c in pending if kept.get(c, ("", "", None))[2] in (None, *placed)]
        if not ready:  # a cycle among imported parents: put the rest at the top
            ready = pending
        for code_id in ready:
            name, description, parent = kept.get(code_id, (code_id, OUTSIDE_CODEBOOK, None))
            parent = parent if parent in placed and parent != code_id else None
            entries.append((code_id, parent, name or code_id, description))
            placed.add(code_id)
        pending = [c for c in pending if c not in placed]
    names = _unique_names([(i, p, n) for i, p, n, _ in entries])
    return [(i, p, names[i], d) for i, p, _, d in entries]


def _codes_element(entries: list[tuple[str, str | None, str, str]], *, ns: str) -> etree._Element:
    codes = etree.Element(qname("Codes", ns))
    elements: dict[str, etree._Element] = {}
    children: dict[str | None, list[tuple[str, str, str]]] = {}
    for code_id, parent, name, description in entries:
        children.setdefault(parent, []).append((code_id, name, description))

    def add(parent_elem: etree._Element, parent_id: str | None) -> None:
        for code_id, name, description in children.get(parent_id, []):
            elem = etree.SubElement(
                parent_elem,
                qname("Code", ns),
                guid=guid("code", code_id),
                name=name,
                isCodable="true",
            )
            if description:
                etree.SubElement(elem, qname("Description", ns)).text = description
            elements[code_id] = elem
            add(elem, code_id)

    add(codes, None)
    return codes


def _variable_type(values: pd.Series) -> str:
    present = [v for v in values if isinstance(v, str) and v.strip()]
    if present and all(re.fullmatch(r"-?\d+", v.strip()) for v in present):
        return "Integer"
    if present and all(re.fullmatch(r"-?\d+(?:\.\d+)?", v.strip()) for v in present):
        return "Float"
    return "Text"


def build_project_xml(
    processed_dir: Path,
    *,
    codebook: Codebook | None,
    participants: pd.DataFrame | None,
    name: str = "qualcode project",
    study_ids: bool = False,
) -> tuple[bytes, dict[str, str], dict[str, int]]:
    """Build project.qde and the source texts of our project.

    study_ids: sources and cases named by T01, T02, ... instead of transcript ids (file names).

    RETURNS (tuple[bytes, dict[str, str], dict[str, int]]): the XML, the source files
        (zip member -> text), and counts (sources, selections, codings, cases).
    """
    turns = schema.read_table(processed_dir, "turns")
    codings = schema.read_codings(processed_dir)
    if study_ids:
        mapping = study_id_map(turns["transcript_id"])
        turns, codings = apply_study_ids(turns, mapping), apply_study_ids(codings, mapping)
        participants = apply_study_ids(participants, mapping)
    transcript_ids = sorted(turns["transcript_id"].astype(str).unique())
    coders = sorted(codings["coder"].astype(str).unique()) if len(codings) else []
    entries = _code_entries(
        codebook,
        list(codings["code_id"].astype(str).unique()),
        read_imported_codes(processed_dir),
    )

    root = etree.Element(qname("Project"), nsmap={None: NS}, name=name, origin="qualcode")
    if coders:
        users = etree.SubElement(root, qname("Users"))
        for coder in coders:
            etree.SubElement(users, qname("User"), guid=guid("user", coder), name=coder)
    if entries:
        codebook_elem = etree.SubElement(root, qname("CodeBook"))
        codebook_elem.append(_codes_element(entries, ns=NS))

    counts = Counter()
    cases_rows = []
    attributes: list[str] = []
    if participants is not None:
        attributes = [c for c in participants.columns if c not in ("transcript_id", "pseudonym")]
        cases_rows = [
            row for _, row in participants.iterrows() if row["transcript_id"] in transcript_ids
        ]
    if cases_rows and attributes:
        variables = etree.SubElement(root, qname("Variables"))
        types = {}
        for column in attributes:
            types[column] = _variable_type(pd.Series([r[column] for r in cases_rows]))
            etree.SubElement(
                variables,
                qname("Variable"),
                guid=guid("variable", column),
                name=column,
                typeOfVariable=types[column],
            )
    if cases_rows:
        cases = etree.SubElement(root, qname("Cases"))
        for row in cases_rows:
            transcript_id = row["transcript_id"]
            pseudonym = row.get("pseudonym") or transcript_id
            case = etree.SubElement(
                cases, qname("Case"), guid=guid("case", transcript_id), name=str(pseudonym)
            )
            for column in attributes:
                value = str(row[column]).strip()
                if not value:
                    continue
                held = etree.SubElement(case, qname("VariableValue"))
                etree.SubElement(held, qname("VariableRef"), targetGUID=guid("variable", column))
                kind = {"Integer": "IntegerValue", "Float": "FloatValue"}.get(
                    types[column], "TextValue"
                )
                etree.SubElement(held, qname(kind)).text = value
            etree.SubElement(case, qname("SourceRef"), targetGUID=guid("source", transcript_id))
            counts["cases"] += 1

    files: dict[str, str] = {}
    sources = etree.SubElement(root, qname("Sources"))
    by_transcript = {t: f for t, f in codings.groupby("transcript_id")} if len(codings) else {}
    for transcript_id in transcript_ids:
        doc = transcript_doc(turns, transcript_id)
        source_guid = guid("source", transcript_id)
        member = f"Sources/{source_guid}.txt"
        files[member] = doc.text
        source = etree.SubElement(
            sources,
            qname("TextSource"),
            guid=source_guid,
            name=transcript_id,
            plainTextPath=f"internal://{source_guid}.txt",
        )
        etree.SubElement(
            source, qname("Description")
        ).text = f"Transcript {transcript_id}: cleaned, pseudonymised text, one turn per paragraph."
        counts["sources"] += 1
        frame = by_transcript.get(transcript_id)
        if frame is None:
            continue
        spans: dict[tuple[str, int, int], list[str]] = {}
        for row in frame.itertuples(index=False):
            start = doc.offset(row.turn_id, row.start_char)
            end = doc.offset(row.turn_id, row.end_char)
            spans.setdefault((str(row.coder), start, end), []).append(str(row.code_id))
        for (coder, start, end), code_ids in sorted(
            spans.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])
        ):
            user = guid("user", coder)
            selection = etree.SubElement(
                source,
                qname("PlainTextSelection"),
                guid=guid("selection", transcript_id, coder, start, end),
                name=_selection_name(doc.text[start:end]),
                startPosition=str(start),
                endPosition=str(end),
                creatingUser=user,
            )
            counts["selections"] += 1
            for code_id in sorted(set(code_ids)):
                coding = etree.SubElement(
                    selection,
                    qname("Coding"),
                    guid=guid("coding", transcript_id, coder, start, end, code_id),
                    creatingUser=user,
                )
                etree.SubElement(coding, qname("CodeRef"), targetGUID=guid("code", code_id))
                counts["codings"] += 1
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return xml, files, dict(counts)


def _selection_name(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(members, key=lambda n: (n != PROJECT_FILE, n)):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, members[name])
    return buffer.getvalue()


def write_qdpx(
    out: Path,
    processed_dir: Path,
    *,
    codebook: Codebook | None,
    participants_path: Path | None = None,
    name: str = "qualcode project",
    study_ids: bool = False,
) -> dict[str, int]:
    """`qualcode export qdpx OUT`: the whole project as REFI-QDA, validated before it is written.

    study_ids: T01, T02, ... in place of transcript ids (`qualcode.study_ids`).

    RETURNS (dict[str, int]): counts of sources, selections, codings and cases written.
    """
    participants = read_participants(participants_path)
    xml, files, counts = build_project_xml(
        processed_dir, codebook=codebook, participants=participants, name=name, study_ids=study_ids
    )
    problems = schema_errors(xml)
    if problems:  # our own bug, not bad input: fail loudly rather than write an invalid file
        raise RuntimeError("export does not validate: " + "; ".join(problems))
    members = {PROJECT_FILE: xml, **{k: v.encode("utf-8") for k, v in files.items()}}
    data = _zip_bytes(members)
    schema.atomic_write(Path(out), lambda tmp: tmp.write_bytes(data))
    return counts


def build_codebook_xml(codebook: Codebook) -> bytes:
    """RETURNS (bytes): the codebook as a REFI-QDA codebook exchange file (.qdc)."""
    root = etree.Element(qname("CodeBook", CODEBOOK_NS), nsmap={None: CODEBOOK_NS})
    root.append(_codes_element(_code_entries(codebook, []), ns=CODEBOOK_NS))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def qdc_as_project(xml: bytes) -> bytes:
    """Wrap a .qdc's codes in a project document, to check them against the project schema
    (a codebook file holds the same CodeBook structure in its own namespace).

    RETURNS (bytes): project XML.
    """
    source = etree.fromstring(xml)
    text = etree.tostring(source).decode("utf-8").replace(CODEBOOK_NS, NS)
    codebook = etree.fromstring(text.encode("utf-8"))
    root = etree.Element(qname("Project"), nsmap={None: NS}, name="codebook")
    root.append(codebook)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def write_qdc(out: Path, codebook: Codebook) -> Path:
    """`qualcode export qdc OUT`: the codebook alone, validated before it is written.

    RETURNS (Path): the file written.
    """
    xml = build_codebook_xml(codebook)
    problems = schema_errors(qdc_as_project(xml))
    if problems:
        raise RuntimeError("codebook export does not validate: " + "; ".join(problems))
    return schema.atomic_write(Path(out), lambda tmp: tmp.write_bytes(xml))
