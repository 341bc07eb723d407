"""REFI-QDA 1.0, the exchange format of NVivo, ATLAS.ti, MAXQDA, QualCoder and others: its
namespaces, deterministic GUIDs, the schema (shipped in human/schemas), and reading a project.

Reading (`read_qdpx`): a .qdpx is a zip holding project.qde (XML in the namespace
urn:QDA-XML:project:1.0, validated against the REFI-QDA schema) and the source files under
Sources/ (or sources/). A TextSource carries its text inline (PlainTextContent) or points to a file
(plainTextPath: `internal://name`, a relative path or a bare file name). Sources are read from
inside the archive only, unless the caller names a sources folder (`qualcode import-coding
--sources DIR`): then a path the archive does not hold is looked up in that folder, and only there
(no symbolic links, nothing that resolves outside it; `basePath` is never followed). Every member
and file is capped at `limits.max_file_mb` (config/params.yml), checked before it is read and
again while it is read in chunks, so a small archive that inflates to gigabytes is refused. A GUID
used twice in project.qde is an error naming both elements. Texts are read as UTF-8 (a byte-order
mark is dropped, UTF-16 is recognised by its mark). Where a text has Windows line ends, tools
differ in counting "\\r\\n" as one character or two; the count whose selections fall on word
boundaries (and match their names, when a tool stores the quoted text there) wins.
PlainTextSelections without a Coding are counted and left out, as are codings of a whole source.

Importing a project is `human.refi_import`; writing ours, `human.refi_export`.
"""

from __future__ import annotations

import io
import logging
import math
import uuid
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath

import pandas as pd
import xmlschema
from lxml import etree

from qualcode.config import LimitsParams
from qualcode.errors import QualcodeInputError

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


def qname(tag: str, ns: str = NS) -> str:
    """RETURNS (str): the tag in the namespace, as lxml writes it (``{urn:...}Tag``)."""
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
    content = elem.find(qname("PlainTextContent"))
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
        for child in elem.findall(qname("Code")):
            description = child.findtext(qname("Description")) or ""
            code = RefiCode(child.get("guid").lower(), child.get("name"), parent, description)
            codes[code.guid] = code
            walk(child, code.guid)

    codes_elem = root.find(f"{qname('CodeBook')}/{qname('Codes')}")
    if codes_elem is not None:
        walk(codes_elem, None)
    return codes


def _read_cases(root: etree._Element, sources: dict[str, str]) -> pd.DataFrame:
    variables = {
        v.get("guid").lower(): v.get("name") for v in root.iter(qname("Variable")) if v.get("guid")
    }
    rows = []
    for case in root.iter(qname("Case")):
        linked = [
            sources.get(ref.get("targetGUID", "").lower(), ref.get("targetGUID"))
            for ref in case.findall(qname("SourceRef"))
        ]
        values = {}
        for value in case.findall(qname("VariableValue")):
            ref = value.find(qname("VariableRef"))
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
        if root.tag != qname("Project"):
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
            for u in root.iter(qname("User"))
        }
        codes = _read_codes(root)
        sources = []
        n_other = 0
        sources_elem = root.find(qname("Sources"))
        for elem in sources_elem if sources_elem is not None else []:
            if not isinstance(elem.tag, str):
                continue
            if elem.tag != qname("TextSource"):
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
    for sel in elem.findall(qname("PlainTextSelection")):
        where = f"PlainTextSelection {sel.get('guid')} of TextSource {name!r}"
        selection = RefiSelection(
            guid=sel.get("guid").lower(),
            name=sel.get("name"),
            start=_int_attr(sel, "startPosition", path=path),
            end=_int_attr(sel, "endPosition", path=path),
            user=(sel.get("creatingUser") or "").lower() or None,
        )
        for coding in sel.findall(qname("Coding")):
            ref = coding.find(qname("CodeRef"))
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
    n_source_codings = len(elem.findall(qname("Coding")))
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
