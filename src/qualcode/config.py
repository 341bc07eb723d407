"""config/params.yml loaded into a typed, validated object.

Unknown keys and values of the wrong type are errors that name the file and the key, so a typo in
the parameters never passes silently.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from qualcode.errors import QualcodeInputError, short_repr
from qualcode.paths import PARAMS_PATH


@dataclass(frozen=True)
class IngestParams:
    """How transcripts are read, cleaned and de-identified."""

    disfluencies: tuple[str, ...] = ("um", "umm", "uh", "uhh", "erm", "er", "hmm", "mm", "mhm")
    drop_repeats: bool = True
    drop_false_starts: bool = True
    section_match_threshold: int = 75
    speaker_merge_threshold: int = 85
    deid_entities: tuple[str, ...] = ("PERSON", "ORG", "GPE")
    annotation_words: tuple[str, ...] = (
        "inaudible", "unintelligible", "indiscernible", "crosstalk", "cross-talk", "laughs",
        "laughing", "laughter", "chuckles", "sighs", "coughs", "pause", "long pause", "silence",
        "overlapping", "overtalk", "background noise", "noise", "music", "applause",
    )  # fmt: skip
    deid_keep: tuple[str, ...] = ()  # the older name of `deid.allow`; both lists are used


@dataclass(frozen=True)
class DenyParams:
    """Names that identify someone in this study: always replaced, in any case, everywhere."""

    PERSON: tuple[str, ...] = ()
    ORG: tuple[str, ...] = ()
    GPE: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeidParams:
    """How de-identification decides what is a name (`qualcode.ingest.deid`)."""

    # Study terms, public tools and platforms: never replaced (case-insensitive).
    allow: tuple[str, ...] = ()
    # Organisations, products, places and people that identify someone: always replaced.
    deny: DenyParams = field(default_factory=DenyParams)
    # A word found by spaCy alone whose English Zipf frequency (wordfreq) is at least this is a
    # common word, not a name, unless it is known to be one (participants.csv, a speaker label,
    # the deny list, or part of a full name found elsewhere). 0 turns the check off.
    common_word_zipf: float = 4.0
    # Replace transcript ids (file names) by T01, T02, ... in report pages and exports.
    study_ids: bool = False


@dataclass(frozen=True)
class CodingParams:
    """How the codebook is applied."""

    unit: Literal["sentence", "turn"] = "sentence"
    roles: tuple[str, ...] = ("participant",)
    negation_cues: tuple[str, ...] = (
        "not", "n't", "never", "no", "nobody", "nothing", "none", "neither", "nor", "without",
    )  # fmt: skip
    hypothetical_cues: tuple[str, ...] = (
        "if", "unless", "suppose", "supposing", "imagine", "hypothetically",
    )  # fmt: skip


@dataclass(frozen=True)
class ReportParams:
    """What the notebooks show."""

    quotes_per_code: int = 3
    quote_min_chars: int = 40
    quote_max_chars: int = 400
    saturation_orders: int = 200
    seed: int = 20231


LearnedKind = Literal["logreg", "textcat"]
FeatureBlock = Literal["sentence", "question", "turn", "position", "rules", "tok2vec"]
LEARNED_KINDS: tuple[str, ...] = typing.get_args(LearnedKind)
FEATURE_BLOCKS: tuple[str, ...] = typing.get_args(FeatureBlock)


@dataclass(frozen=True)
class BlockWeights:
    """How much each feature block of the learned coder counts (its columns are scaled by it)."""

    sentence: float = 1.0
    question: float = 0.5
    turn: float = 0.5
    position: float = 0.5
    rules: float = 1.0
    tok2vec: float = 0.1


@dataclass(frozen=True)
class LearnedParams:
    """How the learned coder is trained: `qualcode train`, `qualcode evaluate` and the learning
    step of `qualcode run` all use these (the commands' options override some of them)."""

    # logreg (logistic regression per code on the feature blocks) or textcat (spaCy)
    kind: LearnedKind = "logreg"
    # What the model reads besides the sentence; see qualcode.learned.features.
    features: tuple[FeatureBlock, ...] = ("sentence", "question", "turn", "position")
    block_weights: BlockWeights = field(default_factory=BlockWeights)
    # logreg: inverse regularisation strength, and class weights balanced per code
    c: float = 64.0
    balanced: bool = True
    # A code is learned with at least this many coded sentences in this many transcripts.
    min_examples: int = 8
    min_transcripts: int = 2
    # Folds of whole training transcripts on which each code's threshold is chosen.
    inner_folds: int = 5
    threshold_min: float = 0.05
    threshold_max: float = 0.95
    threshold_step: float = 0.025
    # The threshold of a code without a held-out positive.
    default_threshold: float = 0.5
    # The position of a turn in the interview, in this many bins.
    position_bins: int = 10
    # textcat: spaCy's textcat_multilabel training
    textcat_epochs: int = 20
    textcat_batch_size: int = 32
    textcat_length: int = 65536
    textcat_dropout: float = 0.2


@dataclass(frozen=True)
class LimitsParams:
    """Sizes beyond which an input is refused as bad input rather than read."""

    # a transcript, a source file or a member of a zip (.qdpx, .docx), after decompression
    max_file_mb: int = 100
    # one speaker turn, in characters (spaCy refuses texts over nlp.max_length, 1,000,000)
    max_turn_chars: int = 200_000
    # distinct speaker labels in one transcript
    max_speakers: int = 500

    @property
    def max_file_bytes(self) -> int:
        """RETURNS (int): max_file_mb in bytes."""
        return self.max_file_mb * 1024 * 1024


@dataclass(frozen=True)
class Params:
    """All pipeline parameters (config/params.yml)."""

    spacy_model: str = "en_core_web_sm"
    # worker processes for ingest and coding: a number, or "auto" (every core the machine lets
    # this process use, when the transcripts to read are enough to pay for starting them)
    processes: int | Literal["auto"] = "auto"
    ingest: IngestParams = field(default_factory=IngestParams)
    coding: CodingParams = field(default_factory=CodingParams)
    report: ReportParams = field(default_factory=ReportParams)
    limits: LimitsParams = field(default_factory=LimitsParams)
    deid: DeidParams = field(default_factory=DeidParams)
    learned: LearnedParams = field(default_factory=LearnedParams)

    def to_dict(self) -> dict[str, Any]:
        """RETURNS (dict): the parameters as plain values (lists for tuples)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def digest(self, section: str | None = None) -> str:
        """RETURNS (str): a short sha256 of all parameters, or of one section."""
        data = self.to_dict() if section is None else self.to_dict()[section]
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _convert(value: Any, hint: Any, *, where: str, path: Path) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise QualcodeInputError(
                f"expected a mapping, got {short_repr(value)}", path=path, element=where
            )
        return _build(hint, value, where=where, path=path)
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise QualcodeInputError(
                f"expected one of {', '.join(map(str, allowed))}, got {short_repr(value)}",
                path=path,
                element=where,
            )
        return value
    if origin is tuple:
        (item_type, _ellipsis) = typing.get_args(hint)
        if not isinstance(value, list):
            raise QualcodeInputError(
                f"expected a list, got {short_repr(value)}", path=path, element=where
            )
        return tuple(
            _convert(v, item_type, where=f"{where}[{i}]", path=path) for i, v in enumerate(value)
        )
    if origin in (typing.Union, types.UnionType):
        problems = []
        for option in typing.get_args(hint):
            try:
                return _convert(value, option, where=where, path=path)
            except QualcodeInputError as err:
                problems.append(err.detail.removeprefix("expected ").split(", got ")[0])
        raise QualcodeInputError(
            f"expected {' or '.join(problems)}, got {short_repr(value)}", path=path, element=where
        )
    if hint is bool:
        if not isinstance(value, bool):
            raise QualcodeInputError(
                f"expected true or false, got {short_repr(value)}", path=path, element=where
            )
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise QualcodeInputError(
                f"expected an integer, got {short_repr(value)}", path=path, element=where
            )
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise QualcodeInputError(
                f"expected a number, got {short_repr(value)}", path=path, element=where
            )
        return float(value)
    if hint is str:
        if not isinstance(value, str) or not value:
            raise QualcodeInputError(
                f"expected a text, got {short_repr(value)}", path=path, element=where
            )
        return value
    raise TypeError(f"unsupported hint {hint}")


def _build(cls: type, data: dict[str, Any], *, where: str, path: Path) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        prefix = f"{where}." if where else ""
        raise QualcodeInputError(
            f"unknown key {prefix}{unknown[0]!s}; expected one of {', '.join(sorted(known))}",
            path=path,
        )
    kwargs = {
        key: _convert(value, hints[key], where=f"{where}.{key}" if where else key, path=path)
        for key, value in data.items()
    }
    return cls(**kwargs)


# Nodes that YAML aliases may add to a file once expanded: anchors and aliases that repeat a list
# of cues are fine; an alias bomb (aliases of aliases, 350 bytes growing to gigabytes) is refused
# before anything is built from it.
MAX_YAML_EXPANSION = 10_000


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a recursive alias counts once
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    else:
        children = []
    memo[key] = 1 + sum(_expanded_size(child, memo) for child in children)
    return memo[key]


def load_yaml(text: str, *, path: Path | str) -> tuple[Any, yaml.Node | None]:
    """Parse YAML text with a safe loader that refuses alias expansion beyond a small limit.

    Errors name the file and line and never echo the document.
    RETURNS (tuple): the data (None for an empty document) and its root node (for line numbers).
    """
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        memo: dict[int, int] = {}
        added = _expanded_size(node, memo) - len(memo)
        if added > MAX_YAML_EXPANSION:
            raise QualcodeInputError(
                f"YAML aliases expand to more than {MAX_YAML_EXPANSION:,} extra values; expected "
                "a file without alias expansion beyond that (an alias bomb?)",
                path=path,
            )
        return loader.construct_document(node), node
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(err, "problem", None) or type(err).__name__
        raise QualcodeInputError(f"expected valid YAML ({problem})", path=path, line=line) from None
    except RecursionError:
        raise QualcodeInputError(
            "YAML nested too deeply; expected a shallow file", path=path
        ) from None
    finally:
        loader.dispose()


def load_params(path: Path | str | None = None) -> Params:
    """Load and validate config/params.yml (defaults for every key that is absent).

    RETURNS (Params): the parameters.
    """
    path = Path(path) if path is not None else PARAMS_PATH
    if not path.exists():
        raise QualcodeInputError("parameters file not found", path=path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise QualcodeInputError("expected UTF-8 YAML text", path=path) from err
    data, _root = load_yaml(text, path=path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise QualcodeInputError("expected a mapping of parameters at the top level", path=path)
    params = _build(Params, data, where="", path=path)
    if params.report.quote_min_chars > params.report.quote_max_chars:
        raise QualcodeInputError(
            "quote_min_chars must not exceed quote_max_chars", path=path, element="report"
        )
    if params.processes != "auto" and params.processes < 1:
        raise QualcodeInputError(
            f'expected "auto" or a number of 1 or more, got {params.processes}',
            path=path,
            element="processes",
        )
    for key, value in dataclasses.asdict(params.limits).items():
        if value <= 0:
            raise QualcodeInputError(
                f"expected a positive number, got {value}", path=path, element=f"limits.{key}"
            )
    allowed = {a.casefold() for a in (*params.deid.allow, *params.ingest.deid_keep)}
    for entity_type, names in dataclasses.asdict(params.deid.deny).items():
        both = sorted(n for n in names if n.casefold() in allowed)
        if both:
            raise QualcodeInputError(
                f"{both[0]!r} is in both deid.deny.{entity_type} and the allow list; "
                "expected it in one of them",
                path=path,
                element="deid",
            )
    learned = params.learned
    if not learned.features:
        raise QualcodeInputError(
            f"expected some of {', '.join(FEATURE_BLOCKS)}", path=path, element="learned.features"
        )
    if not 0 < learned.threshold_min <= learned.threshold_max < 1 or learned.threshold_step <= 0:
        raise QualcodeInputError(
            "expected 0 < threshold_min <= threshold_max < 1 and threshold_step > 0",
            path=path,
            element="learned",
        )
    return params
