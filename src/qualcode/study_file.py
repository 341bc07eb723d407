"""The study file (config/study.yml): what is particular to one study besides its transcripts,
participants.csv, codebook and interview guide.

Every key is optional; where the file (or a key) is absent the report takes its defaults from the
data (`qualcode.analysis.study.study_design`):

- title: the study's title, shown on the index page (default: the folder's name).
- research_questions: the questions the study asks (default: none shown).
- takeaways: {code: a codebook code whose children are the study's key takeaways, heading: what
  to call them}; page 04 ranks and quotes them (default: no takeaways; page 04 ranks the themes).
- findings: codebook codes whose children page 04 reports as descriptive findings (default: every
  top-level code with children, except the takeaways' code).
- attributes: participants.csv columns to break the themes down by (default: every attribute
  column with 2 to 12 distinct values); attribute_separator splits a cell holding several values.
- attribute_codes: codes whose children are compared across the attributes (default: the leaf
  codes).
- quantities: stated quantities to report, each {kind: a kind of quantities.parquet, code: only
  in sentences with this code (optional), what: what it measures, unit: its unit (optional)}
  (default: none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qualcode.config import load_yaml
from qualcode.errors import QualcodeInputError

KEYS = (
    "title",
    "research_questions",
    "takeaways",
    "findings",
    "attributes",
    "attribute_separator",
    "attribute_codes",
    "quantities",
)
QUANTITY_KEYS = ("kind", "code", "what", "unit")


@dataclass(frozen=True)
class Quantity:
    """A stated quantity to report: its kind, the code its sentences carry, what it measures."""

    kind: str
    what: str
    code: str | None = None
    unit: str = ""


@dataclass(frozen=True)
class StudyFile:
    """The study file as written: None (or empty) where it is silent."""

    title: str | None = None
    research_questions: tuple[str, ...] = ()
    takeaways_code: str | None = None
    takeaways_heading: str | None = None
    findings: tuple[str, ...] | None = None
    attributes: tuple[str, ...] | None = None
    attribute_separator: str = ";"
    attribute_codes: tuple[str, ...] | None = None
    quantities: tuple[Quantity, ...] = field(default_factory=tuple)
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """RETURNS (dict): the settings, for the run manifest."""
        return {
            "title": self.title,
            "research_questions": list(self.research_questions),
            "takeaways": {"code": self.takeaways_code, "heading": self.takeaways_heading},
            "findings": None if self.findings is None else list(self.findings),
            "attributes": None if self.attributes is None else list(self.attributes),
            "attribute_separator": self.attribute_separator,
            "attribute_codes": None if self.attribute_codes is None else list(self.attribute_codes),
            "quantities": [vars(q) for q in self.quantities],
        }


def _texts(value: Any, *, path: Path, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise QualcodeInputError("expected a list of texts", path=path, element=key)
    return tuple(v.strip() for v in value)


def _text(value: Any, *, path: Path, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise QualcodeInputError("expected a text", path=path, element=key)
    return value.strip()


def _unknown(data: dict, allowed: tuple[str, ...], *, path: Path, element: str | None) -> None:
    extra = sorted(set(data) - set(allowed), key=str)
    if extra:
        raise QualcodeInputError(
            f"unknown key {extra[0]!r}; expected {', '.join(allowed)}", path=path, element=element
        )


def load_study_file(path: Path | str | None) -> StudyFile:
    """Read and check the study file. No file: a study file that is silent everywhere.

    RETURNS (StudyFile): its settings (code ids and columns are checked against the codebook and
        participants.csv when the report uses them).
    """
    if path is None or not Path(path).is_file():
        return StudyFile()
    path = Path(path)
    data, _root = load_yaml(path.read_text(encoding="utf-8"), path=path)
    if data is None:
        return StudyFile(path=path)
    if not isinstance(data, dict):
        raise QualcodeInputError(
            "expected a mapping of settings (title, takeaways, ...)", path=path
        )
    _unknown(data, KEYS, path=path, element=None)
    found: dict[str, Any] = {"path": path}
    if data.get("title") is not None:
        found["title"] = _text(data["title"], path=path, key="title")
    if data.get("research_questions") is not None:
        found["research_questions"] = _texts(
            data["research_questions"], path=path, key="research_questions"
        )
    takeaways = data.get("takeaways")
    if takeaways is not None:
        if isinstance(takeaways, str):
            takeaways = {"code": takeaways}
        if not isinstance(takeaways, dict):
            raise QualcodeInputError(
                "expected a mapping {code: CODE_ID, heading: text}", path=path, element="takeaways"
            )
        _unknown(takeaways, ("code", "heading"), path=path, element="takeaways")
        found["takeaways_code"] = _text(takeaways.get("code"), path=path, key="takeaways.code")
        if takeaways.get("heading") is not None:
            found["takeaways_heading"] = _text(
                takeaways["heading"], path=path, key="takeaways.heading"
            )
    for key in ("findings", "attributes", "attribute_codes"):
        if data.get(key) is not None:
            found[key] = _texts(data[key], path=path, key=key)
    if data.get("attribute_separator") is not None:
        sep = data["attribute_separator"]
        if not isinstance(sep, str) or not sep:
            raise QualcodeInputError(
                "expected a non-empty text", path=path, element="attribute_separator"
            )
        found["attribute_separator"] = sep
    quantities = data.get("quantities")
    if quantities is not None:
        if not isinstance(quantities, list):
            raise QualcodeInputError(
                "expected a list of {kind, what, code, unit}", path=path, element="quantities"
            )
        items = []
        for i, item in enumerate(quantities):
            where = f"quantities[{i}]"
            if not isinstance(item, dict):
                raise QualcodeInputError(
                    "expected a mapping {kind, what, code, unit}", path=path, element=where
                )
            _unknown(item, QUANTITY_KEYS, path=path, element=where)
            items.append(
                Quantity(
                    kind=_text(item.get("kind"), path=path, key=f"{where}.kind"),
                    what=_text(item.get("what"), path=path, key=f"{where}.what"),
                    code=None
                    if item.get("code") is None
                    else _text(item["code"], path=path, key=f"{where}.code"),
                    unit=""
                    if item.get("unit") is None
                    else _text(item["unit"], path=path, key=f"{where}.unit"),
                )
            )
        found["quantities"] = tuple(items)
    return StudyFile(**found)
