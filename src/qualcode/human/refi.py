"""REFI-QDA 1.0: read coded projects (.qdpx) from NVivo, ATLAS.ti, MAXQDA, QualCoder and others,
and write ours (.qdpx) and our codebook (.qdc).

Reading (`read_qdpx`): a .qdpx is a zip holding project.qde (XML in the namespace
urn:QDA-XML:project:1.0, validated against the REFI-QDA schema shipped in human/schemas) and
the source files under Sources/ (or sources/). A TextSource carries its text inline
(PlainTextContent) or points to a file (plainTextPath: `internal://name`, a relative path or a bare
file name). Sources are read from inside the archive only, unless the caller names a sources folder
(`qualcode import-coding --sources DIR`): then a path the archive does not hold is looked up in that
folder, and only there (no symbolic links, nothing that resolves outside it; `basePath` is never
followed). Every member and file is capped at `limits.max_file_mb` (config/params.yml), checked
before it is read and again while it is read in chunks, so a small archive that inflates to
gigabytes is refused. A GUID used twice in project.qde is an error naming both elements. Texts
are read as UTF-8 (a byte-order mark is dropped, UTF-16 is recognised by its mark). Where a text
has Windows line ends, tools differ in counting "\\r\\n" as one character or two; the count
whose selections fall on word boundaries (and match their names, when a tool stores the quoted text
there) wins. PlainTextSelections without a Coding are counted and left out, as are codings of a
whole source.

Importing (`import_qdpx`): each TextSource maps to a transcript by name (file extension, case and
punctuation ignored); a source that is not in data/processed yet is ingested from its text
(`qualcode.ingest.corpus.ingest_text`). Selections map onto turns and sentences with
`human.align` and `human.store` (which states the overlap rule). A coding's coder is
`human:<user name>` of its creatingUser (of the Coding, else of its selection, source or project);
codings whose user is a machine coder (`rules`, `model`: our own export coming back) are counted
and left out, since `qualcode code` rebuilds them. Codes map to the codebook by label or id; others
keep the slug of their name and are listed.

Writing (`write_qdpx`, `write_qdc`): deterministic GUIDs (uuid5), the codebook hierarchy with
definitions as Description, one TextSource per transcript (the cleaned, pseudonymised text as
"speaker: text" turns) stored as `Sources/<guid>.txt` (UTF-8, no byte-order mark), one
PlainTextSelection per coded span and coder with a Coding per code, one User per coder, and the
participants as Cases (pseudonym and attributes of participants.csv; never a name).
"""

from __future__ import annotations

import io
import logging
import math
import re
import uuid
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath

import pandas as pd
import xmlschema
from lxml import etree

from qualcode import schema
from qualcode.coding.codebook import Codebook
from qualcode.config import LimitsParams
from qualcode.errors import QualcodeInputError
from qualcode.human.align import Corpus, transcript_doc
from qualcode.human.store import (
    MACHINE_CODERS,
    PIECE_COLUMNS,
    CodeResolver,
    ImportResult,
    coder_name,
    finish_rows,
    load_codebook_or_none,
    pieces_to_rows,
    write_human_codings,
)
from qualcode.participants import PARTICIPANTS_FILE, read_participants, rows_by_transcript
from qualcode.study_ids import apply_study_ids, study_id_map

logger = logging.getLogger(__name__)

NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
SCHEMA_PATH = Path(__file__).parent / "schemas" / "Project.xsd"
GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:qualcode:refi-qda")
PROJECT_FILE = "project.qde"
SOURCE_SUFFIXES = (".txt", ".text", ".md", ".rtf", ".docx", ".doc", ".pdf", ".vtt", ".srt", ".odt")
MAX_SCHEMA_ERRORS = 3
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
READ_CHUNK = 1 << 20
# A source matched by name to a processed transcript must share at least this fraction of its
# words with it, or its offsets would code unrelated sentences.
MIN_SHARED_WORDS = 0.5


def _q(tag: str, ns: str = NS) -> str:
    return f"{{{ns}}}{tag}"


def guid(kind: str, *parts: object) -> str:
    """A deterministic GUID: uuid5 of the kind and parts, so an export is the same every time.

    RETURNS (str): a lower-case GUID.
    """
    return str(uuid.uuid5(GUID_NAMESPACE, "\x1f".join([kind, *map(str, parts)])))


@lru_cache(maxsize=1)
def project_schema() -> xmlschema.XMLSchema:
    """RETURNS (XMLSchema): the REFI-QDA 1.0 project schema shipped with the package."""
    return xmlschema.XMLSchema(str(SCHEMA_PATH))


def schema_errors(xml: bytes, *, limit: int = MAX_SCHEMA_ERRORS) -> list[str]:
    """Validate project XML against the REFI-QDA schema.

    RETURNS (list[str]): the first `limit` problems ("line N, /path: reason"); empty when valid.
    """
    problems = []
    for err in project_schema().iter_errors(io.BytesIO(xml)):
        where = f"line {err.sourceline}, " if getattr(err, "sourceline", None) else ""
        reason = err.reason or err.message
        problems.append(f"{where}{err.path}: {reason}")
        if len(problems) >= limit:
            break
    return problems


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass
class RefiCode:
    """A Code of the project's codebook."""

    guid: str
    name: str
    parent: str | None
    description: str = ""


@dataclass
class RefiSelection:
    """A PlainTextSelection and the codings on it: (coding guid, code guid, user guid)."""

    guid: str
    name: str | None
    start: int
    end: int
    user: str | None
    codings: list[tuple[str, str, str | None]] = field(default_factory=list)


@dataclass
class RefiSource:
    """A TextSource with its text (offsets of its selections count in it)."""

    guid: str
    name: str
    text: str
    user: str | None
    selections: list[RefiSelection] = field(default_factory=list)
    n_source_codings: int = 0
    crlf_as_one: bool | None = None


@dataclass
class RefiProject:
    """What a .qdpx holds that coding needs."""

    path: Path
    name: str
    user: str | None
    users: dict[str, str]
    codes: dict[str, RefiCode]
    sources: list[RefiSource]
    cases: pd.DataFrame
    n_other_sources: int = 0

    def code_path(self, code_guid: str) -> list[str]:
        """RETURNS (list[str]): code names from the top of the hierarchy down to this code."""
        names = []
        current: str | None = code_guid
        while current is not None and current in self.codes and len(names) < 100:
            names.append(self.codes[current].name)
            current = self.codes[current].parent
        return names[::-1]


def _decode(data: bytes, *, path: Path, element: str) -> str:
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise QualcodeInputError(
            "expected a UTF-8 (or UTF-16) text file", path=path, element=element
        ) from None


def _boundary_score(text: str, start: int, end: int) -> int:
    score = 0
    if start == 0 or not (text[start - 1].isalnum() and text[start].isalnum()):
        score += 1
    if end == len(text) or not (text[end - 1].isalnum() and text[end].isalnum()):
        score += 1
    return score


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _choose_line_ends(text: str, selections: list[RefiSelection]) -> tuple[str, bool | None]:
    """Pick the count of "\\r\\n" (one character or two) under which the selections make sense.

    RETURNS (tuple[str, bool | None]): the text the offsets count in, and whether "\\r\\n" counts
        as one (None when the text has none).
    """
    if "\r\n" not in text:
        return text, None
    collapsed = text.replace("\r\n", "\n")

    def score(candidate: str) -> float:
        total = 0.0
        for sel in selections:
            if sel.end > len(candidate) or sel.start < 0 or sel.start >= sel.end:
                return -math.inf
            total += _boundary_score(candidate, sel.start, sel.end)
            if sel.name and len(_norm(sel.name)) >= 4:
                name = _norm(sel.name).rstrip(".… ")[:40]
                total += 10 if _norm(candidate[sel.start : sel.end]).startswith(name) else 0
        return total

    one, two = score(collapsed), score(text)
    if one >= two:
        return collapsed, True
    return text, False


def _too_big(what: str, limit: int) -> str:
    megabytes = limit // (1024 * 1024)
    return f"{what} is larger than limits.max_file_mb ({megabytes} MB); expected a smaller file"


class _Zip:
    """Case-insensitive access to the members of a .qdpx, each read up to a size limit."""

    def __init__(self, archive: zipfile.ZipFile, *, path: Path, limit: int) -> None:
        self.archive = archive
        self.path = path
        self.limit = limit
        self.names = {name.lower(): name for name in archive.namelist() if not name.endswith("/")}

    def find(self, *candidates: str) -> str | None:
        for candidate in candidates:
            key = candidate.replace("\\", "/").lstrip("/").lower()
            if key in self.names:
                return self.names[key]
        return None

    def by_basename(self, name: str) -> str | None:
        base = PurePosixPath(name.replace("\\", "/")).name.lower()
        hits = [n for k, n in self.names.items() if PurePosixPath(k).name == base]
        return hits[0] if len(hits) == 1 else None

    def read(self, name: str) -> bytes:
        """RETURNS (bytes): the member; refused past the limit (by its header, then as read)."""
        info = self.archive.getinfo(name)
        if info.file_size > self.limit:
            raise QualcodeInputError(
                _too_big(f"member {name} ({info.file_size:,} bytes)", self.limit),
                path=self.path,
                element=name,
            )
        chunks, size = [], 0
        try:
            with self.archive.open(info) as member:
                while chunk := member.read(READ_CHUNK):
                    size += len(chunk)
                    if size > self.limit:
                        raise QualcodeInputError(
                            _too_big(f"member {name}", self.limit), path=self.path, element=name
                        )
                    chunks.append(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as err:
            raise QualcodeInputError(
                f"unreadable zip member ({err}); expected a REFI-QDA project",
                path=self.path,
                element=name,
            ) from None
        return b"".join(chunks)


def _sources_file(
    rest: str, *, absolute: bool, sources_dir: Path, path: Path, label: str, limit: int
) -> str | None:
    """A source file inside the sources folder: no symbolic link, nothing resolving outside it.

    RETURNS (str | None): the text, or None when the folder does not hold the file.
    """
    root = sources_dir.resolve()
    rel = PurePosixPath(rest.replace("\\", "/"))
    candidates = []
    if not absolute and not rel.is_absolute():
        candidates.append(sources_dir / Path(*rel.parts))
    candidates.append(sources_dir / rel.name)
    for file in candidates:
        if not file.exists() and not file.is_symlink():
            continue
        if file.is_symlink() or not file.resolve().is_relative_to(root):
            raise QualcodeInputError(
                f"plainTextPath {rest!r} leads outside the sources folder {sources_dir} "
                "(or through a symbolic link); expected a file inside it",
                path=path,
                element=label,
            )
        if not file.is_file():
            continue
        if file.stat().st_size > limit:
            raise QualcodeInputError(
                _too_big(f"source file {file}", limit), path=path, element=label
            )
        return _decode(file.read_bytes(), path=file, element=label)
    return None


def _source_text(
    elem: etree._Element, archive: _Zip, *, path: Path, sources_dir: Path | None
) -> str:
    guid_ = elem.get("guid")
    label = f"TextSource {elem.get('name') or guid_!r}"
    content = elem.find(_q("PlainTextContent"))
    if content is not None:
        return content.text or ""
    ref = elem.get("plainTextPath")
    if not ref:
        raise QualcodeInputError(
            "expected PlainTextContent or a plainTextPath", path=path, element=label
        )
    scheme, _, rest = ref.partition("://")
    if not rest:
        scheme, rest = "", ref
    scheme = scheme.lower()
    member = None
    if scheme in ("internal", "", "relative"):
        member = archive.find(f"sources/{rest}", rest) or archive.by_basename(rest)
    if member is not None:
        return _decode(archive.read(member), path=path, element=label)
    if sources_dir is None:
        raise QualcodeInputError(
            f"plainTextPath {ref!r}: no such file in the archive; sources outside it are read "
            "only from a folder you name (--sources DIR)",
            path=path,
            element=label,
        )
    if scheme in ("absolute", "relative", ""):
        text = _sources_file(
            rest,
            absolute=scheme == "absolute",
            sources_dir=sources_dir,
            path=path,
            label=label,
            limit=archive.limit,
        )
        if text is not None:
            return text
    raise QualcodeInputError(
        f"plainTextPath {ref!r}: no such file in the archive or in {sources_dir}",
        path=path,
        element=label,
    )


def _int_attr(elem: etree._Element, name: str, *, path: Path) -> int:
    value = elem.get(name)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise QualcodeInputError(
            f"{name} must be a whole number, got {value!r}",
            path=path,
            element=f"{etree.QName(elem).localname} {elem.get('guid')}",
        ) from None


def _read_codes(root: etree._Element) -> dict[str, RefiCode]:
    codes: dict[str, RefiCode] = {}

    def walk(elem: etree._Element, parent: str | None) -> None:
        for child in elem.findall(_q("Code")):
            description = child.findtext(_q("Description")) or ""
            code = RefiCode(child.get("guid").lower(), child.get("name"), parent, description)
            codes[code.guid] = code
            walk(child, code.guid)

    codes_elem = root.find(f"{_q('CodeBook')}/{_q('Codes')}")
    if codes_elem is not None:
        walk(codes_elem, None)
    return codes


def _read_cases(root: etree._Element, sources: dict[str, str]) -> pd.DataFrame:
    variables = {
        v.get("guid").lower(): v.get("name") for v in root.iter(_q("Variable")) if v.get("guid")
    }
    rows = []
    for case in root.iter(_q("Case")):
        linked = [
            sources.get(ref.get("targetGUID", "").lower(), ref.get("targetGUID"))
            for ref in case.findall(_q("SourceRef"))
        ]
        values = {}
        for value in case.findall(_q("VariableValue")):
            ref = value.find(_q("VariableRef"))
            target = ref.get("targetGUID", "").lower() if ref is not None else ""
            name = variables.get(target, target)
            held = [c for c in value if etree.QName(c).localname != "VariableRef"]
            values[name] = held[0].text if held else None
        rows.append(
            {
                "case": case.get("name") or case.get("guid"),
                "sources": "; ".join(str(s) for s in linked),
                **values,
            }
        )
    return pd.DataFrame(rows)


def read_qdpx(
    path: Path | str, *, sources_dir: Path | None = None, limits: LimitsParams | None = None
) -> RefiProject:
    """Read and validate a REFI-QDA project.

    sources_dir: the folder that source files outside the archive are read from (none: the
        archive only).
    limits: size limits (default: LimitsParams()).
    Raises QualcodeInputError for: a file that is not a zip, a zip without project.qde, XML that
    is not well formed or does not validate (the first schema errors), a GUID used twice, a source
    whose text cannot be found or read (or lies outside the archive and the sources folder), a
    member or file over the size limit, a selection whose offsets fall outside its text, a CodeRef
    to a code that is not in the codebook.
    RETURNS (RefiProject): users, codes, text sources with their selections and codings, cases.
    """
    path = Path(path)
    if not path.is_file():
        raise QualcodeInputError("file not found", path=path)
    try:
        archive_file = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise QualcodeInputError(
            "expected a REFI-QDA project: a zip file holding project.qde", path=path
        ) from None
    limits = limits or LimitsParams()
    with archive_file:
        archive = _Zip(archive_file, path=path, limit=limits.max_file_bytes)
        member = archive.find(PROJECT_FILE)
        if member is None:
            qde = [n for k, n in archive.names.items() if k.endswith(".qde") and "/" not in k]
            member = qde[0] if len(qde) == 1 else None
        if member is None:
            raise QualcodeInputError(
                "no project.qde in the archive; expected a REFI-QDA project (.qdpx)",
                path=path,
                element="project.qde",
            )
        xml = archive.read(member)
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
        try:
            root = etree.fromstring(xml, parser)
        except etree.XMLSyntaxError as err:
            raise QualcodeInputError(
                f"project.qde is not well-formed XML ({err.msg})",
                path=path,
                line=err.lineno,
                element=member,
            ) from None
        if root.tag != _q("Project"):
            raise QualcodeInputError(
                f"expected a <Project> root in the namespace {NS}, got {root.tag}",
                path=path,
                element=member,
            )
        problems = schema_errors(xml)
        if problems:
            raise QualcodeInputError(
                "project.qde does not validate against the REFI-QDA schema: " + "; ".join(problems),
                path=path,
                element=member,
            )
        _check_unique_guids(root, path=path)
        users = {
            u.get("guid").lower(): (u.get("name") or u.get("id") or u.get("guid"))
            for u in root.iter(_q("User"))
        }
        codes = _read_codes(root)
        sources = []
        n_other = 0
        sources_elem = root.find(_q("Sources"))
        for elem in sources_elem if sources_elem is not None else []:
            if not isinstance(elem.tag, str):
                continue
            if elem.tag != _q("TextSource"):
                n_other += 1
                continue
            sources.append(_read_source(elem, archive, codes, path=path, sources_dir=sources_dir))
    names = {s.guid: s.name for s in sources}
    creator = root.get("creatingUserGUID")
    return RefiProject(
        path=path,
        name=root.get("name") or path.stem,
        user=creator.lower() if creator else None,
        users=users,
        codes=codes,
        sources=sources,
        cases=_read_cases(root, names),
        n_other_sources=n_other,
    )


def _element_name(elem: etree._Element) -> str:
    name = f" {elem.get('name')!r}" if elem.get("name") else ""
    return f"{etree.QName(elem).localname}{name} (line {elem.sourceline})"


def _check_unique_guids(root: etree._Element, *, path: Path) -> None:
    """Refuse a GUID used by two elements (the second would silently replace the first)."""
    seen: dict[str, etree._Element] = {}
    for elem in root.iter():
        if not isinstance(elem.tag, str) or not elem.get("guid"):
            continue
        key = elem.get("guid").lower()
        if key in seen:
            raise QualcodeInputError(
                f"guid {elem.get('guid')} is used by both {_element_name(seen[key])} and "
                f"{_element_name(elem)}; expected a unique guid per element",
                path=path,
                element=_element_name(elem),
            )
        seen[key] = elem


def _read_source(
    elem: etree._Element,
    archive: _Zip,
    codes: dict[str, RefiCode],
    *,
    path: Path,
    sources_dir: Path | None,
) -> RefiSource:
    text = _source_text(elem, archive, path=path, sources_dir=sources_dir)
    source_guid = elem.get("guid").lower()
    name = elem.get("name") or source_guid
    selections = []
    for sel in elem.findall(_q("PlainTextSelection")):
        where = f"PlainTextSelection {sel.get('guid')} of TextSource {name!r}"
        selection = RefiSelection(
            guid=sel.get("guid").lower(),
            name=sel.get("name"),
            start=_int_attr(sel, "startPosition", path=path),
            end=_int_attr(sel, "endPosition", path=path),
            user=(sel.get("creatingUser") or "").lower() or None,
        )
        for coding in sel.findall(_q("Coding")):
            ref = coding.find(_q("CodeRef"))
            target = ref.get("targetGUID").lower()
            if target not in codes:
                raise QualcodeInputError(
                    f"CodeRef to {ref.get('targetGUID')}, which is not a Code of the codebook",
                    path=path,
                    element=f"Coding {coding.get('guid')} in {where}",
                )
            user = (coding.get("creatingUser") or "").lower() or None
            selection.codings.append((coding.get("guid").lower(), target, user))
        if selection.start < 0 or selection.end < selection.start:
            raise QualcodeInputError(
                f"expected 0 <= startPosition <= endPosition, got {selection.start} and "
                f"{selection.end}",
                path=path,
                element=where,
            )
        selections.append(selection)
    n_source_codings = len(elem.findall(_q("Coding")))
    text, crlf_as_one = _choose_line_ends(text, selections)
    for selection in selections:
        if selection.end > len(text):
            raise QualcodeInputError(
                f"endPosition {selection.end} is beyond the end of the text "
                f"({len(text)} characters)",
                path=path,
                element=f"PlainTextSelection {selection.guid} of TextSource {name!r}",
            )
    return RefiSource(
        guid=source_guid,
        name=name,
        text=text,
        user=(elem.get("creatingUser") or "").lower() or None,
        selections=selections,
        n_source_codings=n_source_codings,
        crlf_as_one=crlf_as_one,
    )


# ---------------------------------------------------------------------------------------------
# Importing


def _id_key(name: str) -> str:
    stem = name.strip()
    suffix = PurePosixPath(stem.replace("\\", "/")).suffix.lower()
    if suffix in SOURCE_SUFFIXES:
        stem = stem[: -len(suffix)]
    stem = PurePosixPath(stem.replace("\\", "/")).name
    return re.sub(r"[^0-9a-z]+", "_", stem.casefold()).strip("_")


def match_transcript(name: str, transcript_ids: list[str]) -> str | None:
    """Find the transcript a source stands for by name (extension, case and punctuation ignored).

    RETURNS (str | None): the transcript id, or None.
    """
    key = _id_key(name)
    hits = [t for t in transcript_ids if _id_key(t) == key]
    return hits[0] if len(hits) == 1 else None


def transcript_id_for(name: str) -> str:
    """RETURNS (str): the transcript id a new source gets: its file stem in snake case."""
    return _id_key(name) or "source"


def _coder_of(
    project: RefiProject,
    selection: RefiSelection,
    source: RefiSource,
    user: str | None,
    *,
    fallback: str | None,
) -> str:
    for candidate in (user, selection.user, source.user, project.user):
        if candidate and candidate in project.users:
            return coder_name(project.users[candidate])
    return coder_name(fallback or "unknown")


def _ingest_sources(
    sources: list[tuple[RefiSource, str]],
    processed_dir: Path,
    *,
    params_path: Path | None,
    raw_dir: Path | None,
    keys_dir: Path | None,
) -> None:
    from qualcode.config import load_params
    from qualcode.ingest.corpus import ingest_text
    from qualcode.paths import keys_dir as resolve_keys_dir

    params = load_params(params_path)
    participants = {}
    if raw_dir is not None:
        participants = rows_by_transcript(Path(raw_dir) / PARTICIPANTS_FILE)
    for source, transcript_id in sources:
        logger.info("ingesting source %r as transcript %s", source.name, transcript_id)
        ingest_text(
            transcript_id,
            source.text,
            out_dir=Path(processed_dir),
            params=params,
            keys_dir=resolve_keys_dir(raw_dir, keys_dir),
            source_path=f"{source.name}",
            participants=participants.get(transcript_id),
        )


def project_pieces(
    project: RefiProject,
    corpus: Corpus,
    source_ids: dict[str, str],
    resolver: CodeResolver,
    *,
    coder: str | None = None,
    keep_machine: bool = False,
) -> tuple[pd.DataFrame, Counter]:
    """Map every coded selection of a project onto pieces of our turns.

    source_ids: source guid -> transcript id.
    keep_machine: keep codings whose user is `rules` or `model` (left out on import).
    RETURNS (tuple[DataFrame, Counter]): pieces (transcript_id, turn_id, start_char, end_char,
        code_id, coder, selection_id, source) and counts of what was left out.
    """
    counts: Counter = Counter()
    code_ids = {
        g: resolver.resolve(c.name, project.code_path(g)[:-1]) for g, c in project.codes.items()
    }
    rows = []
    for source in project.sources:
        counts["source_codings"] += source.n_source_codings
        transcript_id = source_ids[source.guid]
        mapper = corpus.mapper(transcript_id, source.text, key=source.guid)
        for selection in source.selections:
            counts["selections"] += 1
            if not selection.codings:
                counts["uncoded_selections"] += 1
                continue
            pieces = corpus.map_source_span(transcript_id, mapper, selection.start, selection.end)
            if not pieces:
                counts["unmapped_selections"] += 1
                continue
            for _coding_guid, code_guid, user in selection.codings:
                who = _coder_of(project, selection, source, user, fallback=coder)
                if who in MACHINE_CODERS and not keep_machine:
                    counts["machine_codings"] += 1
                    continue
                for turn_id, lo, hi in pieces:
                    rows.append(
                        {
                            "transcript_id": transcript_id,
                            "turn_id": turn_id,
                            "start_char": lo,
                            "end_char": hi,
                            "code_id": code_ids[code_guid],
                            "coder": who,
                            "selection_id": selection.guid,
                            "source": project.path.name,
                        }
                    )
    return pd.DataFrame(rows, columns=PIECE_COLUMNS), counts


def _check_same_text(project: RefiProject, source: RefiSource, transcript_id: str, corpus) -> None:
    """Refuse a source matched by name whose words are mostly not the transcript's."""
    mapper = corpus.mapper(transcript_id, source.text, key=source.guid)
    if mapper.identity or not mapper.exact:
        return
    shared = sum(mapper.exact) / len(mapper.exact)
    if shared < MIN_SHARED_WORDS:
        raise QualcodeInputError(
            f"matched transcript {transcript_id!r} by name, but only {shared:.0%} of its words are "
            f"in that transcript; expected the same interview (at least {MIN_SHARED_WORDS:.0%}): "
            "rename the source, or remove the transcript it was matched to",
            path=project.path,
            element=f"TextSource {source.name!r}",
        )


def import_qdpx(
    path: Path | str,
    processed_dir: Path,
    *,
    codebook_path: Path | None = None,
    coder: str | None = None,
    raw_dir: Path | None = None,
    params_path: Path | None = None,
    keys_dir: Path | None = None,
    sources_dir: Path | None = None,
) -> ImportResult:
    """`qualcode import-coding FILE.qdpx`: read a project, map it, merge into human_codings.parquet.

    coder: the coder for codings whose user the project does not name.
    sources_dir: the folder source files outside the archive may be read from (none: the archive).
    Raises QualcodeInputError when a source matched by name to a processed transcript shares
    fewer than MIN_SHARED_WORDS of its words with it (its offsets would code unrelated sentences).
    RETURNS (ImportResult): what was imported, left out and ingested; `written` is the table.
    """
    from qualcode.config import load_params

    limits = load_params(params_path).limits
    project = read_qdpx(path, sources_dir=sources_dir, limits=limits)
    codebook = load_codebook_or_none(codebook_path)
    processed_dir = Path(processed_dir)
    turns = schema.read_table(processed_dir, "turns", required=False)
    known = sorted(turns["transcript_id"].astype(str).unique()) if turns is not None else []
    source_ids: dict[str, str] = {}
    to_ingest: list[tuple[RefiSource, str]] = []
    for source in project.sources:
        found = match_transcript(source.name, known)
        if found is None:
            found = transcript_id_for(source.name)
            if any(t == found for _, t in to_ingest):
                raise QualcodeInputError(
                    f"two sources map to the transcript id {found!r}; rename one",
                    path=project.path,
                    element=f"TextSource {source.name!r}",
                )
            to_ingest.append((source, found))
        source_ids[source.guid] = found
    if to_ingest:
        _ingest_sources(
            to_ingest, processed_dir, params_path=params_path, raw_dir=raw_dir, keys_dir=keys_dir
        )
    corpus = Corpus.load(processed_dir, raw_dir=raw_dir)
    ingested = {t for _, t in to_ingest}
    for source in project.sources:
        transcript_id = source_ids[source.guid]
        if transcript_id not in ingested and source.selections:
            _check_same_text(project, source, transcript_id, corpus)
    resolver = CodeResolver(codebook)
    pieces, counts = project_pieces(project, corpus, source_ids, resolver, coder=coder)
    version = codebook.version if codebook is not None else None
    codings = finish_rows(pieces_to_rows(pieces, corpus), codebook_version=version)
    users = {coder_name(name) for name in project.users.values()} | set(codings["coder"])
    replace = {(u, t) for u in users for t in source_ids.values() if u not in MACHINE_CODERS}
    written = write_human_codings(codings, processed_dir, replace=replace)
    return ImportResult(
        source=project.path,
        codings=codings,
        n_selections=counts["selections"],
        n_uncoded_selections=counts["uncoded_selections"],
        n_source_codings=counts["source_codings"],
        n_machine_codings=counts["machine_codings"],
        n_unmapped=counts["unmapped_selections"],
        unknown_codes=dict(resolver.unknown),
        ingested=[t for _, t in to_ingest],
        cases=project.cases,
        written=written,
    )


# ---------------------------------------------------------------------------------------------
# Writing


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


def _code_entries(
    codebook: Codebook | None, extra_ids: list[str]
) -> list[tuple[str, str | None, str, str]]:
    """RETURNS (list): (code id, parent id, name, description) of the codebook, then extra codes."""
    entries = []
    known = set()
    if codebook is not None:
        for code in codebook:
            entries.append((code.id, code.parent, code.label, code.definition))
            known.add(code.id)
    for code_id in sorted(set(extra_ids) - known):
        entries.append(
            (code_id, None, code_id, "A code used in imported coding, not in the codebook.")
        )
    names = _unique_names([(i, p, n) for i, p, n, _ in entries])
    return [(i, p, names[i], d) for i, p, _, d in entries]


def _codes_element(entries: list[tuple[str, str | None, str, str]], *, ns: str) -> etree._Element:
    codes = etree.Element(_q("Codes", ns))
    elements: dict[str, etree._Element] = {}
    children: dict[str | None, list[tuple[str, str, str]]] = {}
    for code_id, parent, name, description in entries:
        children.setdefault(parent, []).append((code_id, name, description))

    def add(parent_elem: etree._Element, parent_id: str | None) -> None:
        for code_id, name, description in children.get(parent_id, []):
            elem = etree.SubElement(
                parent_elem,
                _q("Code", ns),
                guid=guid("code", code_id),
                name=name,
                isCodable="true",
            )
            if description:
                etree.SubElement(elem, _q("Description", ns)).text = description
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
    entries = _code_entries(codebook, list(codings["code_id"].astype(str).unique()))

    root = etree.Element(_q("Project"), nsmap={None: NS}, name=name, origin="qualcode")
    if coders:
        users = etree.SubElement(root, _q("Users"))
        for coder in coders:
            etree.SubElement(users, _q("User"), guid=guid("user", coder), name=coder)
    if entries:
        codebook_elem = etree.SubElement(root, _q("CodeBook"))
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
        variables = etree.SubElement(root, _q("Variables"))
        types = {}
        for column in attributes:
            types[column] = _variable_type(pd.Series([r[column] for r in cases_rows]))
            etree.SubElement(
                variables,
                _q("Variable"),
                guid=guid("variable", column),
                name=column,
                typeOfVariable=types[column],
            )
    if cases_rows:
        cases = etree.SubElement(root, _q("Cases"))
        for row in cases_rows:
            transcript_id = row["transcript_id"]
            pseudonym = row.get("pseudonym") or transcript_id
            case = etree.SubElement(
                cases, _q("Case"), guid=guid("case", transcript_id), name=str(pseudonym)
            )
            for column in attributes:
                value = str(row[column]).strip()
                if not value:
                    continue
                held = etree.SubElement(case, _q("VariableValue"))
                etree.SubElement(held, _q("VariableRef"), targetGUID=guid("variable", column))
                kind = {"Integer": "IntegerValue", "Float": "FloatValue"}.get(
                    types[column], "TextValue"
                )
                etree.SubElement(held, _q(kind)).text = value
            etree.SubElement(case, _q("SourceRef"), targetGUID=guid("source", transcript_id))
            counts["cases"] += 1

    files: dict[str, str] = {}
    sources = etree.SubElement(root, _q("Sources"))
    by_transcript = {t: f for t, f in codings.groupby("transcript_id")} if len(codings) else {}
    for transcript_id in transcript_ids:
        doc = transcript_doc(turns, transcript_id)
        source_guid = guid("source", transcript_id)
        member = f"Sources/{source_guid}.txt"
        files[member] = doc.text
        source = etree.SubElement(
            sources,
            _q("TextSource"),
            guid=source_guid,
            name=transcript_id,
            plainTextPath=f"internal://{source_guid}.txt",
        )
        etree.SubElement(
            source, _q("Description")
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
                _q("PlainTextSelection"),
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
                    _q("Coding"),
                    guid=guid("coding", transcript_id, coder, start, end, code_id),
                    creatingUser=user,
                )
                etree.SubElement(coding, _q("CodeRef"), targetGUID=guid("code", code_id))
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
    root = etree.Element(_q("CodeBook", CODEBOOK_NS), nsmap={None: CODEBOOK_NS})
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
    root = etree.Element(_q("Project"), nsmap={None: NS}, name="codebook")
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
