"""The codebook (config/codebook.yml): loaded, validated and turned into a typed hierarchy.

A codebook is a YAML mapping with an integer `version` and a list of `codes`. Each code has a
stable UPPER_SNAKE `id`, a `label`, an optional `parent` (which builds the hierarchy), a
`definition`, `include`/`exclude` notes, `examples` and optional spaCy `patterns` (`phrases`
matched on lemmas and lower-case words, `tokens` as spaCy Matcher patterns).

Every problem is a QualcodeInputError that names the file, the line of the code where known, the
code id and what was expected: an unknown key, a duplicate id, an unknown parent, a cycle, a token
pattern that spaCy rejects, an empty pattern list.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from qualcode.config import load_yaml
from qualcode.errors import QualcodeInputError, short_repr
from qualcode.paths import CODEBOOK_PATH

CODE_ID_RE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")
TOP_KEYS = ("version", "codes")
CODE_KEYS = (
    "id",
    "label",
    "parent",
    "definition",
    "include",
    "exclude",
    "examples",
    "patterns",
)
PATTERN_KEYS = ("phrases", "tokens")
# Token attributes whose values are text: YAML 1.1 reads unquoted yes/no/on/off there as booleans.
_TEXT_ATTRS = {"ORTH", "TEXT", "LOWER", "NORM", "LEMMA", "POS", "TAG", "DEP", "ENT_TYPE", "SHAPE"}
PATH_SEPARATOR = " > "


@dataclass(frozen=True)
class Patterns:
    """The spaCy patterns of one code."""

    phrases: tuple[str, ...] = ()
    tokens: tuple[tuple[dict[str, Any], ...], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.phrases or self.tokens)


@dataclass(frozen=True)
class Code:
    """One code of the codebook."""

    id: str
    label: str
    definition: str
    parent: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    patterns: Patterns = field(default_factory=Patterns)
    line: int | None = None


@dataclass(frozen=True)
class Codebook:
    """A validated codebook: codes in file order, with hierarchy helpers."""

    version: int
    codes: tuple[Code, ...]
    source_path: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {code.id: code for code in self.codes})

    def __iter__(self) -> Iterator[Code]:
        return iter(self.codes)

    def __len__(self) -> int:
        return len(self.codes)

    def __contains__(self, code_id: object) -> bool:
        return code_id in self._by_id

    def __getitem__(self, code_id: str) -> Code:
        try:
            return self._by_id[code_id]
        except KeyError:
            raise KeyError(f"unknown code id {code_id!r}") from None

    @property
    def ids(self) -> list[str]:
        """RETURNS (list[str]): the code ids in file order."""
        return [code.id for code in self.codes]

    def parent(self, code_id: str) -> str | None:
        """RETURNS (str | None): the parent id of a code, or None for a top-level code."""
        return self[code_id].parent

    def ancestors(self, code_id: str) -> list[str]:
        """RETURNS (list[str]): the ancestors of a code, nearest first."""
        out = []
        parent = self[code_id].parent
        while parent is not None:
            out.append(parent)
            parent = self[parent].parent
        return out

    def children(self, code_id: str) -> list[str]:
        """RETURNS (list[str]): the direct children of a code, in file order."""
        self[code_id]
        return [code.id for code in self.codes if code.parent == code_id]

    def descendants(self, code_id: str) -> list[str]:
        """RETURNS (list[str]): all codes below a code, depth first in file order."""
        out = []
        for child in self.children(code_id):
            out.append(child)
            out.extend(self.descendants(child))
        return out

    def roots(self) -> list[str]:
        """RETURNS (list[str]): the top-level codes, in file order."""
        return [code.id for code in self.codes if code.parent is None]

    def depth(self, code_id: str) -> int:
        """RETURNS (int): 0 for a top-level code, 1 for its children, and so on."""
        return len(self.ancestors(code_id))

    def path(self, code_id: str) -> str:
        """RETURNS (str): the code's place in the hierarchy, e.g. "THEME > SUBTHEME"."""
        return PATH_SEPARATOR.join([*reversed(self.ancestors(code_id)), code_id])

    def roll_up(self, code_ids: Iterable[str]) -> list[str]:
        """Add the ancestors of every code: a coding of a child counts for its parents.

        RETURNS (list[str]): the codes and their ancestors, without repeats, in file order.
        """
        wanted = set()
        for code_id in code_ids:
            wanted.add(code_id)
            wanted.update(self.ancestors(code_id))
        return [code_id for code_id in self.ids if code_id in wanted]

    @cached_property
    def sha256(self) -> str:
        """The sha256 of the codebook's content (version and codes, not comments or layout).

        RETURNS (str): 64 hex digits.
        """
        content = {
            "version": self.version,
            "codes": [
                {
                    "id": code.id,
                    "label": code.label,
                    "parent": code.parent,
                    "definition": code.definition,
                    "include": list(code.include),
                    "exclude": list(code.exclude),
                    "examples": list(code.examples),
                    "patterns": {
                        "phrases": list(code.patterns.phrases),
                        "tokens": [list(p) for p in code.patterns.tokens],
                    },
                }
                for code in self.codes
            ],
        }
        blob = json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()

    def to_frame(self) -> pd.DataFrame:
        """RETURNS (DataFrame): one row per code: id, label, parent, path, depth, definition,
        include, exclude, examples, n_phrases, n_token_patterns."""
        return pd.DataFrame(
            [
                {
                    "code_id": code.id,
                    "label": code.label,
                    "parent": code.parent,
                    "path": self.path(code.id),
                    "depth": self.depth(code.id),
                    "definition": code.definition,
                    "include": list(code.include),
                    "exclude": list(code.exclude),
                    "examples": list(code.examples),
                    "n_phrases": len(code.patterns.phrases),
                    "n_token_patterns": len(code.patterns.tokens),
                }
                for code in self.codes
            ]
        )


# ---------------------------------------------------------------- loading


def load_codebook(path: Path | str | None = None) -> Codebook:
    """Load and validate a codebook file.

    RETURNS (Codebook): the validated codebook.
    """
    path = Path(path) if path is not None else CODEBOOK_PATH
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise QualcodeInputError("codebook not found", path=path) from None
    except OSError as err:
        raise QualcodeInputError(f"cannot read the codebook ({err.strerror})", path=path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise QualcodeInputError("expected UTF-8 YAML text", path=path) from None
    return parse_codebook(text, path=path)


def parse_codebook(text: str, *, path: Path | str | None = None) -> Codebook:
    """Validate codebook YAML text.

    path: the file the text came from, for messages.
    RETURNS (Codebook): the validated codebook.
    """
    where = Path(path) if path is not None else Path("<codebook>")
    data, root = load_yaml(text, path=where)
    if data is None:
        raise QualcodeInputError(
            "the codebook is empty; expected a mapping with keys version and codes", path=where
        )
    if not isinstance(data, dict):
        raise QualcodeInputError(
            "expected a mapping with keys version and codes at the top level", path=where, line=1
        )
    unknown = sorted(set(map(str, data)) - set(TOP_KEYS))
    if unknown:
        raise QualcodeInputError(
            f"unknown key {unknown[0]!r}; expected {', '.join(TOP_KEYS)}", path=where
        )
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise QualcodeInputError(
            f"expected `version` to be a whole number, got {short_repr(version)}",
            path=where,
            line=_key_line(root, "version"),
        )
    items = data.get("codes")
    if not isinstance(items, list) or not items:
        raise QualcodeInputError(
            "expected `codes` to be a non-empty list of codes",
            path=where,
            line=_key_line(root, "codes"),
        )
    lines = _code_lines(root, len(items))
    codes = [_parse_code(item, index=i, line=lines[i], path=where) for i, item in enumerate(items)]
    _check_ids(codes, path=where)
    _check_parents(codes, path=where)
    return Codebook(version=version, codes=tuple(codes), source_path=Path(path) if path else None)


def _key_line(root: yaml.Node | None, key: str) -> int | None:
    if isinstance(root, yaml.MappingNode):
        for key_node, _value in root.value:
            if getattr(key_node, "value", None) == key:
                return key_node.start_mark.line + 1
    return None


def _code_lines(root: yaml.Node | None, n: int) -> list[int | None]:
    if isinstance(root, yaml.MappingNode):
        for key_node, value in root.value:
            if getattr(key_node, "value", None) == "codes" and isinstance(value, yaml.SequenceNode):
                lines = [node.start_mark.line + 1 for node in value.value]
                if len(lines) == n:
                    return lines
    return [None] * n


def _fail(code_id: str | None, index: int, line: int | None, message: str, path: Path) -> None:
    element = f"code {code_id}" if code_id else f"codes[{index}]"
    raise QualcodeInputError(message, path=path, line=line, element=element)


def _text(value: Any, *, key: str, code_id: str | None, index: int, line, path) -> str:
    if not isinstance(value, str) or not value.strip():
        _fail(
            code_id,
            index,
            line,
            f"expected `{key}` to be a non-empty text, got {short_repr(value)}",
            path,
        )
    return value.strip()


# YAML reads a bare null, yes, no, on, off, true, false or number as no text
_QUOTE_HINT = (
    " (YAML reads a bare null, yes, no, true, false or number as no text: put it in quotes)"
)


def _texts(value: Any, *, key: str, code_id: str, index: int, line, path) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        _fail(
            code_id,
            index,
            line,
            f"expected `{key}` to be a list of texts, got {short_repr(value)}",
            path,
        )
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            _fail(
                code_id,
                index,
                line,
                f"expected `{key}[{i}]` to be a non-empty text, got {short_repr(item)}"
                + _QUOTE_HINT * (item is None or isinstance(item, bool | int | float)),
                path,
            )
        out.append(item.strip())
    return tuple(out)


def _parse_code(item: Any, *, index: int, line: int | None, path: Path) -> Code:
    if not isinstance(item, dict):
        _fail(None, index, line, f"expected a mapping of code keys, got {short_repr(item)}", path)
    code_id = item.get("id")
    if not isinstance(code_id, str) or not CODE_ID_RE.match(code_id):
        _fail(
            code_id if isinstance(code_id, str) and code_id else None,
            index,
            line,
            f"expected `id` in UPPER_SNAKE_CASE (e.g. REMOTE_WORK), got {short_repr(code_id)}",
            path,
        )
    unknown = sorted(set(map(str, item)) - set(CODE_KEYS))
    if unknown:
        _fail(
            code_id,
            index,
            line,
            f"unknown key {unknown[0]!r}; expected one of {', '.join(CODE_KEYS)}",
            path,
        )
    ctx = {"code_id": code_id, "index": index, "line": line, "path": path}
    label = _text(item.get("label"), key="label", **ctx)
    definition = _text(item.get("definition"), key="definition", **ctx)
    parent = item.get("parent")
    if parent is not None and (not isinstance(parent, str) or not parent.strip()):
        _fail(
            code_id,
            index,
            line,
            f"expected `parent` to be a code id, got {short_repr(parent)}",
            path,
        )
    return Code(
        id=code_id,
        label=label,
        definition=definition,
        parent=parent.strip() if parent else None,
        include=_texts(item.get("include"), key="include", **ctx),
        exclude=_texts(item.get("exclude"), key="exclude", **ctx),
        examples=_texts(item.get("examples"), key="examples", **ctx),
        patterns=_parse_patterns(item, **ctx),
        line=line,
    )


def _pattern_list(
    value: dict[str, Any],
    key: str,
    *,
    code_id: str,
    index: int,
    line: int | None,
    path: Path | None,
) -> list[Any]:
    """RETURNS (list): `patterns.<key>` of a code, checked to be a list that is not empty."""
    raw = value[key]
    if not isinstance(raw, list):
        _fail(
            code_id,
            index,
            line,
            f"expected `patterns.{key}` to be a list, got {short_repr(raw)}",
            path,
        )
    if not raw:
        _fail(code_id, index, line, f"empty pattern list `patterns.{key}`", path)
    return raw


def _parse_patterns(item: dict, *, code_id: str, index: int, line, path) -> Patterns:
    if "patterns" not in item:
        return Patterns()
    value = item["patterns"]
    if not isinstance(value, dict) or not value:
        _fail(
            code_id,
            index,
            line,
            "expected `patterns` to be a mapping with phrases and/or tokens, "
            f"got {short_repr(value)}",
            path,
        )
    unknown = sorted(set(map(str, value)) - set(PATTERN_KEYS))
    if unknown:
        _fail(
            code_id,
            index,
            line,
            f"unknown key patterns.{unknown[0]}; expected {', '.join(PATTERN_KEYS)}",
            path,
        )
    phrases: tuple[str, ...] = ()
    if "phrases" in value:
        raw = _pattern_list(value, "phrases", code_id=code_id, index=index, line=line, path=path)
        phrases = _texts(
            raw, key="patterns.phrases", code_id=code_id, index=index, line=line, path=path
        )
    tokens: list[tuple[dict[str, Any], ...]] = []
    if "tokens" in value:
        raw = _pattern_list(value, "tokens", code_id=code_id, index=index, line=line, path=path)
        for i, pattern in enumerate(raw):
            tokens.append(
                _check_token_pattern(pattern, i, code_id=code_id, index=index, line=line, path=path)
            )
    return Patterns(phrases=phrases, tokens=tuple(tokens))


MAX_REGEX_CHARS = 200


def _regex_problem(pattern: str) -> str | None:
    """Why a REGEX token pattern is unsafe to run, if it is.

    spaCy runs REGEX with Python's `re`, which has no timeout (the `regex` package, which has one,
    is not a dependency), so patterns that can backtrack exponentially are refused when the
    codebook loads: a repetition holding another repetition or an alternation (``(a+)+``,
    ``(a|ab)*``) and back-references. The pattern is read with the parser of `re` itself.
    RETURNS (str | None): the problem, or None for a safe pattern.
    """
    from re import _constants as sre
    from re import _parser

    if len(pattern) > MAX_REGEX_CHARS:
        return f"is {len(pattern)} characters long; expected at most {MAX_REGEX_CHARS}"
    try:
        parsed = _parser.parse(pattern)
    except re.error as err:
        return f"is not a valid regular expression ({err})"
    repeats = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)
    nested = (
        "repeats a group that holds {}; expected no nested repetition (it can take exponential "
        "time on a long word)"
    )

    def walk(items, in_repeat: bool) -> str | None:
        for op, arg in items:
            children: list = []
            if op in repeats:
                _lo, hi, body = arg
                many = hi == sre.MAXREPEAT or hi > 1
                if many and in_repeat:
                    return nested.format("another repetition")
                problem = walk(body, in_repeat or many)
                if problem:
                    return problem
            elif op is sre.BRANCH:
                if in_repeat:
                    return nested.format("an alternation (|)")
                children = arg[1]
            elif op is sre.SUBPATTERN:
                children = [arg[-1]]
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                children = [arg[1]]
            elif op is sre.ATOMIC_GROUP:
                children = [arg]
            elif op in (sre.GROUPREF, sre.GROUPREF_EXISTS):
                return "uses a back-reference; expected none"
            for child in children:
                problem = walk(child, in_repeat)
                if problem:
                    return problem
        return None

    return walk(parsed, False)


def _check_token_pattern(pattern: Any, i: int, *, code_id, index, line, path) -> tuple[dict, ...]:
    from spacy.errors import MatchPatternError
    from spacy.matcher import Matcher

    key = f"patterns.tokens[{i}]"
    if not isinstance(pattern, list):
        _fail(
            code_id,
            index,
            line,
            f"expected `{key}` to be a list of token specs, got {short_repr(pattern)}",
            path,
        )
    if not pattern:
        _fail(code_id, index, line, f"empty pattern list `{key}`", path)
    for j, spec in enumerate(pattern):
        if not isinstance(spec, dict):
            _fail(
                code_id,
                index,
                line,
                f"expected `{key}[{j}]` to be a mapping, got {short_repr(spec)}",
                path,
            )
        for attr, val in spec.items():
            regex = (
                next(
                    (v for k, v in val.items() if str(k).upper() == "REGEX"),
                    None,
                )
                if isinstance(val, dict)
                else None
            )
            problem = _regex_problem(regex) if isinstance(regex, str) else None
            if problem:
                _fail(code_id, index, line, f"`{key}[{j}].{attr}.REGEX` {problem}", path)
            vals = val.get("IN", val.get("NOT_IN", [])) if isinstance(val, dict) else [val]
            if str(attr).upper() in _TEXT_ATTRS and any(isinstance(v, bool) for v in vals):
                _fail(
                    code_id,
                    index,
                    line,
                    f"`{key}[{j}].{attr}` holds true/false where a word was expected; "
                    "quote yes, no, on, off in YAML",
                    path,
                )
    matcher = Matcher(_validation_vocab(), validate=True)
    try:
        matcher.add(f"{code_id}:{key}", [pattern])
    except (MatchPatternError, ValueError, TypeError, KeyError) as err:
        detail = " ".join(str(err).split())
        _fail(code_id, index, line, f"spaCy rejects `{key}`: {detail}", path)
    return tuple(pattern)


@lru_cache(maxsize=1)
def _validation_vocab():
    from spacy.vocab import Vocab

    return Vocab()


def _check_ids(codes: list[Code], *, path: Path) -> None:
    seen: dict[str, Code] = {}
    for i, code in enumerate(codes):
        if code.id in seen:
            first = seen[code.id].line
            at = f" (first defined at line {first})" if first else ""
            _fail(code.id, i, code.line, f"duplicate id {code.id}{at}", path)
        seen[code.id] = code


def _check_parents(codes: list[Code], *, path: Path) -> None:
    by_id = {code.id: code for code in codes}
    for i, code in enumerate(codes):
        if code.parent is not None and code.parent not in by_id:
            _fail(code.id, i, code.line, f"unknown parent {code.parent!r}", path)
    for i, code in enumerate(codes):
        chain = [code.id]
        parent = code.parent
        while parent is not None:
            if parent in chain:
                cycle = PATH_SEPARATOR.join([*chain[chain.index(parent) :], parent])
                _fail(code.id, i, code.line, f"parent cycle {cycle}", path)
            chain.append(parent)
            parent = by_id[parent].parent
