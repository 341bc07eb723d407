"""`qualcode ingest`: every transcript in data/raw -> transcripts, turns and sentences tables.

Steps, per transcript (`transcript_id` is the file stem):

1. read (`qualcode.ingest.readers`; format detected from the extension and the content) and clean
   (`qualcode.ingest.cleaning`) each turn;
2. spaCy (senter for sentences, NER for names; `nlp.pipe` in batches, in the `processes` of the
   parameters or on the workers of a dask cluster, `qualcode.cluster`) on the cleaned text;
3. speakers and roles: from data/raw/participants.csv when it names the interviewer, otherwise the
   speaker who asks most questions and talks least is the interviewer (`ingest.speakers`);
4. sections: each turn takes the interview-guide section (config/interview_guide.yml) of the latest
   interviewer question that matches one of the guide's questions (`ingest.guide`);
5. de-identification (`ingest.deid`): names from participants.csv and speaker labels, the
   study's deny list, spaCy PERSON/ORG/GPE entities that `ingest.name_rules` accepts, emails,
   phones and URLs become stable pseudonyms across the corpus; the key is
   `<keys>/pseudonym_key.csv`. Generic labels (``Participant``, ``Speaker 1``) stay as they are.

Steps 1-2 are cached per transcript in ``<keys>/ingest_cache/<transcript_id>.json``, keyed by the
file's sha256, the cleaning settings and `PIPELINE_VERSION`: an unchanged transcript is not read
or parsed again. The cache holds text from before de-identification, so it lives beside the key
(git-ignored), never among the processed tables. Steps 3-5 are cheap and run over the whole corpus
on every call, so a name found in one transcript is replaced in all of them.

The corpus streams, so that memory grows with a batch, not with the corpus: a new transcript is
read, goes through spaCy in a batch of turns and into its cache file, and is let go; steps 3-5
read the transcripts back from the cache one at a time (for their names, then for their rows),
and the rows go into temporary files renamed into place at the end. Only the names, the words the
corpus uses and a few counts per transcript are held whole.

Tables (data/processed/, rows sorted by transcript_id, turn_id, sentence_id):

- transcripts.parquet: transcript_id, source_path (relative to the raw folder), source_sha256,
  format, n_turns, n_words (words of `text`);
- turns.parquet: transcript_id, turn_id (0-based), speaker (``P01`` from participants.csv,
  ``Interviewer`` or ``INTERVIEWER_n``, else ``PERSON_n``), role, section, start_s, end_s, text_raw,
  text, then n_annotations, n_disfluencies (what cleaning removed) and n_pseudonyms (names replaced
  in `text`);
- sentences.parquet: transcript_id, turn_id, sentence_id (0-based **within the turn**), start_char,
  end_char (Python str offsets into turns.text), text;
- deid_summary.parquet: transcript_id, entity_type, n_replaced, n_distinct (in `text_raw`);
- deid_report.parquet: one row per pseudonym, what was replaced and what looks wrong
  (`ingest.deid_report`), with its private twin ``<keys>/deid_review.csv`` (the original words).

The keys folder and everything in it (key, review, cache) is owner-only: folders 0700, files 0600.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import sys
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import spacy
from spacy.language import Language
from spacy.tokens import Doc

from qualcode import paths, schema
from qualcode.config import Params
from qualcode.errors import ManyInputErrors, QualcodeInputError
from qualcode.ingest.cleaning import clean_text, words
from qualcode.ingest.deid import (
    KEY_FILE,
    Pseudonymiser,
    PseudonymKey,
)
from qualcode.ingest.deid_report import REVIEW_FILE, count_spans, report_frames, write_review
from qualcode.ingest.guide import load_guide, match_section
from qualcode.ingest.name_rules import (
    UNKNOWN_WORD_ZIPF,
    CorpusWords,
    NameRules,
    is_generic_label,
    is_placeholder,
    zipf,
)
from qualcode.ingest.readers import EXTENSIONS, RawTurn, read_file_bytes, read_transcript
from qualcode.ingest.speakers import assign_speakers
from qualcode.participants import PARTICIPANTS_FILE, rows_by_transcript
from qualcode.workers import n_words, stream_batches

log = logging.getLogger(__name__)


PIPELINE_VERSION = "ingest.v3"  # v3: entities and mojibake decoded, marker labels folded


CACHE_DIR = "ingest_cache"


NLP_DISABLE = ("parser", "tagger", "attribute_ruler", "lemmatizer")

# The tables ingest writes row by row (`_assemble`): their columns and dtypes.
INGEST_TABLES = {
    "transcripts": (schema.TRANSCRIPTS_COLUMNS, schema.TRANSCRIPTS_DTYPES),
    "turns": (schema.TURNS_COLUMNS + schema.TURN_EXTRA_COLUMNS, schema.TURNS_DTYPES),
    "sentences": (schema.SENTENCES_COLUMNS, schema.SENTENCES_DTYPES),
    "deid_summary": (schema.DEID_SUMMARY_COLUMNS, schema.DEID_SUMMARY_DTYPES),
}
# Transcripts whose rows are built and written at a time; memory grows with it, not with the
# corpus.
BATCH_TRANSCRIPTS = 64


@dataclass
class IngestResult:
    """What one ingest run did."""

    processed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # unreadable now: previous rows kept
    errors: list[QualcodeInputError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tables: dict[str, Path] = field(default_factory=dict)


def transcript_files(raw_dir: Path) -> list[Path]:
    """The transcript files of a raw folder: all but participants.csv, README* and hidden files.

    RETURNS (list[Path]): the files, sorted.
    """
    files = []
    for path in sorted(Path(raw_dir).rglob("*")):
        rel = path.relative_to(raw_dir)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        if path.name == PARTICIPANTS_FILE or path.name.upper().startswith("README"):
            continue
        files.append(path)
    return files


def sha256_bytes(data: bytes) -> str:
    """RETURNS (str): the hex sha256 of the bytes."""
    return hashlib.sha256(data).hexdigest()


def settings_digest(params: Params) -> str:
    """The settings a cached transcript depends on (cleaning, model, pipeline version).

    RETURNS (str): a short hash.
    """
    ing = params.ingest
    blob = json.dumps(
        {
            "version": PIPELINE_VERSION,
            "model": params.spacy_model,
            "spacy": spacy.__version__,
            "disfluencies": list(ing.disfluencies),
            "drop_repeats": ing.drop_repeats,
            "drop_false_starts": ing.drop_false_starts,
            "annotation_words": list(ing.annotation_words),
            "speaker_merge_threshold": ing.speaker_merge_threshold,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def ingest_nlp(model: str = "en_core_web_sm") -> Language:
    """The pipeline ingest uses: tok2vec, senter and ner (parser, tagger, lemmatizer disabled).

    RETURNS (Language): the pipeline.
    """
    from qualcode.nlp import load_nlp

    return load_nlp(model, disable=NLP_DISABLE, enable=("senter",))


@dataclass
class _Parsed:
    transcript_id: str
    source_path: str
    sha256: str
    format: str
    turns: list[dict[str, Any]]
    warnings: list[str]


def _clean_turns(raw_turns: list[RawTurn], params: Params) -> list[dict[str, Any]]:
    ing = params.ingest
    turns = []
    for turn in raw_turns:
        cleaned = clean_text(
            turn.text,
            disfluencies=ing.disfluencies,
            drop_repeats=ing.drop_repeats,
            drop_false_starts=ing.drop_false_starts,
            annotation_words=ing.annotation_words,
        )
        turns.append(
            {
                "label": turn.speaker,
                "line": turn.line,
                "start_s": turn.start_s if turn.start_s is not None else cleaned.start_s,
                "end_s": turn.end_s,
                "text_raw": cleaned.text_raw,
                "text": cleaned.text,
                "n_annotations": cleaned.n_annotations,
                "n_disfluencies": cleaned.n_disfluencies,
            }
        )
    return turns


def _parse_file(path: Path, raw_dir: Path, data: bytes, params: Params) -> _Parsed:
    transcript = read_transcript(
        path,
        data=data,
        merge_threshold=params.ingest.speaker_merge_threshold,
        limits=params.limits,
    )
    return _Parsed(
        transcript_id=path.stem,
        source_path=path.relative_to(raw_dir).as_posix(),
        sha256=sha256_bytes(data),
        format=transcript.format,
        turns=_clean_turns(transcript.turns, params),
        warnings=list(transcript.warnings),
    )


def _annotate_stream(
    parsed: Iterable[_Parsed],
    model: str,
    *,
    processes: int | str = 1,
    client: Any = None,
    batch_size: int = 64,
) -> Iterator[_Parsed]:
    """Add sentence offsets and entities (spaCy) to every turn of the transcripts, in one
    `nlp.pipe` stream of batches of `batch_size` turns (cut across transcripts, as one process
    would cut them); the transcripts are drawn as the batches go out, and each is yielded as
    soon as all its turns are read.

    processes: the `processes` setting (`qualcode.workers.processes_for`).
    client: a `distributed.Client`: the batches are read by its workers (`qualcode.cluster`).
    YIELDS (_Parsed): each transcript, annotated, in order.
    """
    pending: deque[list[Any]] = deque()  # [transcript, turns annotated so far]

    def texts() -> Iterator[str]:
        for item in parsed:
            pending.append([item, 0])
            for turn in item.turns:
                yield turn["text"]

    def whole() -> Iterator[_Parsed]:
        while pending and pending[0][1] == len(pending[0][0].turns):
            yield pending.popleft()[0]

    if client is None:
        ingest_nlp(model)  # loaded once here: the processes of the pool start with it
    for _batch, found in stream_batches(
        annotate_batch,
        texts(),
        batch_size=batch_size,
        args=(model,),
        processes=processes,
        client=client,
        words=n_words,
    ):
        for sentences, entities in found:
            yield from whole()
            entry = pending[0]
            turn = entry[0].turns[entry[1]]
            turn["sentences"], turn["entities"] = sentences, entities
            entry[1] += 1
        yield from whole()
    yield from whole()


def _cache_payload(parsed: _Parsed, digest: str) -> dict[str, Any]:
    """RETURNS (dict): what the cache keeps of an annotated transcript (steps 1-2)."""
    return {
        "version": PIPELINE_VERSION,
        "settings": digest,
        "transcript_id": parsed.transcript_id,
        "source_path": parsed.source_path,
        "sha256": parsed.sha256,
        "format": parsed.format,
        "warnings": parsed.warnings,
        "turns": parsed.turns,
    }


def _annotations(doc: Doc) -> tuple[list[list[int]], list[list[str]]]:
    """RETURNS (tuple): a doc's sentence offsets (blank sentences left out) and entities."""
    sentences = [[sent.start_char, sent.end_char] for sent in doc.sents if sent.text.strip()]
    return sentences, [[ent.label_, ent.text] for ent in doc.ents]


_WORKER_LOCK = threading.Lock()


def annotate_batch(texts: list[str], model: str) -> list[tuple[list[list[int]], list[list[str]]]]:
    """Sentence offsets and entities of a batch of turn texts (one `nlp.pipe` batch), read with
    the ingest pipeline (loaded once per process); in this process, a pool's or a cluster's.

    RETURNS (list): per text, its sentence offsets and entities.
    """
    with _WORKER_LOCK:  # workers that are threads of one process share the pipeline
        nlp = ingest_nlp(model)
        return [_annotations(doc) for doc in nlp.pipe(texts, batch_size=len(texts))]


def _cache_path(keys_dir: Path, transcript_id: str) -> Path:
    return keys_dir / CACHE_DIR / f"{transcript_id}.json"


def _read_cache(keys_dir: Path, transcript_id: str) -> dict[str, Any]:
    """RETURNS (dict): the cached steps 1-2 of a transcript that this run checked or wrote."""
    return json.loads(_cache_path(keys_dir, transcript_id).read_text(encoding="utf-8"))


def _load_cached(
    keys_dir: Path, transcript_id: str, sha: str | None, digest: str
) -> dict[str, Any] | None:
    """RETURNS (dict | None): the cached steps 1-2 of a transcript, for this file's sha256 (any
    when None) and these settings."""
    path = _cache_path(keys_dir, transcript_id)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (sha is not None and data.get("sha256") != sha) or data.get("settings") != digest:
        return None
    return data


class _NameSignals:
    """The corpus' first names (of participants, speakers, spaCy's full names of people and the
    single words it tags as people), its places (what spaCy tags GPE in two transcripts or
    more), and the lone words spaCy calls a person in one place and a place in another
    (``Covid``), frequent words that are no first name of the corpus; gathered transcript by
    transcript (`add`), read at the end (`result`).
    """

    def __init__(self, participants: dict[str, dict[str, str]]) -> None:
        self.participants = participants
        self.first_names: set[str] = set()
        self.place_files: defaultdict[str, set[str]] = defaultdict(set)
        self.labels_of: defaultdict[str, set[str]] = defaultdict(set)
        self.full_name_words: set[str] = set()

    def add(self, item: dict[str, Any], speakers: dict[str, tuple[str | None, str]]) -> None:
        """Count in a transcript, with its speakers (`assign_speakers`)."""
        tid = item["transcript_id"]
        row = self.participants.get(tid) or {}
        labels = [
            row.get("participant_label", ""),
            *row.get("interviewer_label", "").split(";"),
            *speakers,
        ]
        for label in labels:
            words = label.split()
            if len(words) >= 2 and not is_generic_label(label):
                self.first_names.add(words[0].title())
                self.full_name_words.update(w.title() for w in words)
        for turn in item["turns"]:
            for label, text in turn["entities"]:
                words = text.split()
                if label == "PERSON" and words and words[0][:1].isupper():
                    self.first_names.add(words[0])
                    if len(words) >= 2:
                        self.full_name_words.update(words)
                elif label == "GPE":
                    self.place_files[text.strip()].add(tid)
                if len(words) == 1:
                    self.labels_of[words[0]].add(label)

    def result(self) -> tuple[set[str], set[str], set[str]]:
        """RETURNS (tuple[set[str], set[str], set[str]]): the first names, the places, the
        confused."""
        places = {text for text, files in self.place_files.items() if len(files) >= 2}
        labels_of = self.labels_of
        confused = {
            text
            for text in labels_of
            if {"PERSON"} < labels_of[text]
            and labels_of[text] & {"GPE", "LOC"}
            and text not in self.full_name_words
            and zipf(text) >= UNKNOWN_WORD_ZIPF + 1
        }
        return self.first_names, places, confused


def _assemble(
    order: list[str],
    load: Callable[[str], dict[str, Any]],
    *,
    corpus_words: CorpusWords,
    participants: dict[str, dict[str, str]],
    questions: list[tuple[str, str]],
    key: PseudonymKey,
    params: Params,
    write: Callable[[str, pd.DataFrame], None],
    whole_corpus: bool = True,
    batch_transcripts: int = BATCH_TRANSCRIPTS,
) -> tuple[tuple[pd.DataFrame, pd.DataFrame], list[str]]:
    """Speakers, roles, sections and de-identification over the parsed transcripts.

    The transcripts are read three times, one at a time, by `load(transcript_id)`: for the
    speakers and the names they give, for the names spaCy and the cues find, and, in the order
    of their ids, for their rows, handed to `write(table, frame)` `batch_transcripts`
    transcripts at a time. Only the names and the counts per transcript are held.
    order: the transcript ids, in the order their names are taken (the key numbers new names
        in that order).
    corpus_words: the words of every turn's text (`CorpusWords`).
    whole_corpus: `order` is every transcript (otherwise the key's names are replaced too).
    RETURNS (tuple): deid_report and its private twin (`report_frames`), and the warnings.
    """
    ing, de = params.ingest, params.deid
    common = corpus_words.common()
    allow = (*ing.deid_keep, *de.allow)
    rules = NameRules(
        allow=allow,
        common=common,
        lower=corpus_words.common(all_lower=True),
        common_word_zipf=de.common_word_zipf,
        mid_capital=frozenset(corpus_words.mid_capital),
    )
    ps = Pseudonymiser(key, keep=allow, common_words=common, is_rare=rules.is_rare)
    if not whole_corpus:
        ps.activate_key(lambda original, label: rules.entity_name(original, label) is not None)
    for entity_type, names in dataclasses.asdict(de.deny).items():
        for name in names:
            ps.add_name(name, entity_type, source="deid.deny", any_case=True, how="deny list")
    warnings: list[str] = []
    speakers: dict[str, dict[str, tuple[str | None, str]]] = {}
    signals = _NameSignals(participants)
    # every name first, so that a name found in one transcript is replaced in all of them
    for tid in order:
        item = load(tid)
        row = participants.get(tid)
        for name in [
            (row or {}).get("participant_label", ""),
            *(row or {}).get("interviewer_label", "").split(";"),
        ]:
            if name.strip() and not is_generic_label(name):
                ps.add_name(
                    name, "PERSON", source=tid, parts=True, common_parts=True, how="participants"
                )
        mapping, more = assign_speakers(
            tid, item["turns"], row, threshold=ing.speaker_merge_threshold
        )
        warnings.extend(more)
        for label in mapping:
            if not is_generic_label(label) and not is_placeholder(label):
                ps.add_name(
                    label, "PERSON", source=tid, parts=True, common_parts=True, how="speaker label"
                )
        speakers[tid] = mapping
        signals.add(item, mapping)
    first_names, places, confused = signals.result()
    cued = corpus_words.place_cues
    for tid in order:
        item = load(tid)
        for turn in item["turns"]:
            tagged = [text for _label, text in turn["entities"]]
            cues = [
                ("PERSON", "person cue", rules.is_alias, rules.person_cue_names, first_names),
                ("ORG", "organisation cue", rules.is_org_alias, rules.org_cue_names, None),
            ]
            for entity_type, how, is_alias, find, known in cues:
                if entity_type not in ing.deid_entities:
                    continue
                options = {"tagged": tagged} | ({} if known is None else {"first_names": known})
                for name in find(turn["text"], **options):
                    ps.add_name(
                        name,
                        entity_type,
                        source=item["transcript_id"],
                        parts=True,
                        how=how,
                        is_alias=is_alias,
                    )
            for label, text in turn["entities"]:
                lone = " " not in text.strip()
                if lone and label in {"PERSON", "GPE"} and text.strip() in confused:
                    continue  # spaCy takes it for a person here, a place there: no name
                place = (
                    text in places
                    or (label == "GPE" and rules.place_signal(turn["text"], text))
                    or (
                        label in {"GPE", "LOC", "FAC", "ORG"}
                        and rules.place_signal(turn["text"], text, strong=True)
                    )
                    or (
                        label in {"LOC", "FAC"}
                        and rules.place_signal(turn["text"], text)
                        and (not lone or cued.get(text.strip(), 0) >= 2)
                    )
                )
                if place and label != "GPE" and " " not in text.strip():
                    label = "GPE"  # "out of Bristol", "in Cardiff": a place spaCy called else
                elif place and label in {"LOC", "FAC"}:
                    label = "GPE"
                name = (
                    rules.entity_name(text, label, place=place)
                    if label in ing.deid_entities
                    else None
                )
                if name is not None:
                    ps.add_name(
                        name,
                        label,
                        source=item["transcript_id"],
                        parts=label in {"PERSON", "ORG"},
                        how=f"spaCy {label}",
                        is_alias=rules.is_alias if label == "PERSON" else rules.is_org_alias,
                    )

    transcripts, turn_rows, sentence_rows, summary_rows = [], [], [], []
    per_pseudonym: Counter[tuple[str, str]] = Counter()
    left: Counter[tuple[str, str]] = Counter()
    ordered = sorted(order)
    for done, tid in enumerate(ordered, start=1):
        item = load(tid)
        # a common first name opening a sentence is replaced where it is a person's in the same
        # transcript (a speaker's, a participant's, spaCy's PERSON), or spaCy tags it as a name
        # of another kind in the same turn
        row = participants.get(tid) or {}
        person_words = {
            w
            for turn in item["turns"]
            for label, text in turn["entities"]
            if label == "PERSON"
            for w in text.split()
        } | {
            w
            for name in [
                *speakers[tid],
                row.get("participant_label", ""),
                *row.get("interviewer_label", "").split(";"),
            ]
            if not is_generic_label(name)
            for w in name.split()
        }
        section = None
        replaced: Counter[str] = Counter()
        distinct: defaultdict[str, set[str]] = defaultdict(set)
        n_words = 0
        for turn_id, turn in enumerate(item["turns"]):
            speaker, role = speakers[tid][turn["label"]]
            if speaker is None and (
                is_generic_label(turn["label"]) or is_placeholder(turn["label"])
            ):
                speaker = turn["label"]  # a role or a redaction, not a person: kept as it is
            elif speaker is None:
                speaker = ps.add_name(turn["label"], "PERSON", source=tid) or key.assign(
                    turn["label"], "PERSON", source=tid
                )
            confirmed = person_words | {
                w
                for _label, text in turn["entities"]
                for w in text.split()
                if (ps.key.get(w, "PERSON") or "PERSON").rpartition("_")[0] != "PERSON"
            }
            raw = ps.replace(turn["text_raw"], source=tid, confirmed=confirmed)
            new = ps.replace(turn["text"], source=tid, confirmed=confirmed)
            for _s, _e, _ns, _ne, entity_type, pseudonym in raw.spans:
                replaced[entity_type] += 1
                distinct[entity_type].add(pseudonym)
            per_pseudonym.update({(tid, p): n for p, n in count_spans(raw.spans).items()})
            left.update({(tid, p): n for p, n in ps.leftovers(raw.text).items()})
            if role == "interviewer":
                section = (
                    match_section(turn["text"], questions, ing.section_match_threshold) or section
                )
            n_words += len(words(new.text))
            turn_rows.append(
                {
                    "transcript_id": tid,
                    "turn_id": turn_id,
                    "speaker": speaker,
                    "role": role,
                    "section": section,
                    "start_s": turn["start_s"],
                    "end_s": turn["end_s"],
                    "text_raw": raw.text,
                    "text": new.text,
                    "n_annotations": turn["n_annotations"],
                    "n_disfluencies": turn["n_disfluencies"],
                    "n_pseudonyms": len(new.spans),
                }
            )
            for sentence_id, (start, end) in enumerate(turn["sentences"]):
                s, e = new.map_offset(start), new.map_offset(end, end=True)
                sentence_rows.append(
                    {
                        "transcript_id": tid,
                        "turn_id": turn_id,
                        "sentence_id": sentence_id,
                        "start_char": s,
                        "end_char": e,
                        "text": new.text[s:e],
                    }
                )
        for entity_type in sorted(replaced):
            summary_rows.append(
                {
                    "transcript_id": tid,
                    "entity_type": entity_type,
                    "n_replaced": replaced[entity_type],
                    "n_distinct": len(distinct[entity_type]),
                }
            )
        transcripts.append(
            {
                "transcript_id": tid,
                "source_path": item["source_path"],
                "source_sha256": item["sha256"],
                "format": item["format"],
                "n_turns": len(item["turns"]),
                "n_words": n_words,
            }
        )
        if done % batch_transcripts == 0 or done == len(ordered):
            for name, rows in (
                ("transcripts", transcripts),
                ("turns", turn_rows),
                ("sentences", sentence_rows),
                ("deid_summary", summary_rows),
            ):
                columns, dtypes = INGEST_TABLES[name]
                write(name, _frame(rows, columns, dtypes))
                rows.clear()
    report = report_frames(
        ps,
        replaced=per_pseudonym,
        left=left,
        common_word_zipf=de.common_word_zipf,
    )
    return report, warnings


def _frame(
    rows: list[dict[str, Any]], columns: list[str], dtypes: Mapping[str, str]
) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=columns).astype({c: dtypes[c] for c in columns})
    sort = [c for c in ("transcript_id", "turn_id", "sentence_id", "entity_type") if c in columns]
    return df.sort_values(sort, kind="stable").reset_index(drop=True)


def _write(
    tables: Mapping[str, schema.TableWriter | pd.DataFrame],
    *,
    review: pd.DataFrame | None,
    transcripts: Iterable[str],
    out_dir: Path,
    key: PseudonymKey,
    keys_dir: Path,
) -> dict[str, Path]:
    """Save the key and the review, then put the tables in place: those written row by row
    (`TableWriter`, renamed into place) and those given whole (frames), the ingest record
    saying "being written" until every one is there.

    RETURNS (dict): table name -> path.
    """
    schema.private_dir(keys_dir)
    key.save(keys_dir / KEY_FILE)
    if review is not None:
        write_review(keys_dir / REVIEW_FILE, review)
    # the record says "being written" until every table is there
    schema.write_ingest_record(out_dir, tables=None)
    columns = {name: columns for name, (columns, _dtypes) in INGEST_TABLES.items()}
    columns["deid_report"] = schema.DEID_REPORT_COLUMNS
    written = {
        name: table.commit()
        if isinstance(table, schema.TableWriter)
        else schema.write_table(table, schema.table_path(out_dir, name), columns=columns[name])
        for name, table in tables.items()
    }
    schema.write_ingest_record(out_dir, tables=written, transcripts=transcripts)
    schema.private_dir(keys_dir)
    return written


@contextmanager
def locked_key(keys_dir: Path) -> Iterator[PseudonymKey]:
    """The re-identification key of keys_dir, loaded under its lock (`pseudonym_key.csv.lock`,
    owner-only), held until the block ends: save the key inside the block, so two runs at once
    never give one pseudonym to two names.

    YIELDS (PseudonymKey): the key as saved by the last run.
    """
    keys_dir = schema.private_dir(Path(keys_dir))
    with schema.locked(schema.file_lock(keys_dir / KEY_FILE, mode=schema.PRIVATE_FILE_MODE)):
        schema.sweep_leftovers(keys_dir)
        schema.sweep_leftovers(keys_dir / CACHE_DIR)
        yield PseudonymKey.load(keys_dir / KEY_FILE)


def ingest_corpus(
    raw_dir: Path,
    out_dir: Path,
    *,
    params: Params,
    keys_dir: Path | None = None,
    keep_going: bool = False,
    guide_path: Path | None = None,
    progress: bool = True,
    client: Any = None,
    batch_transcripts: int = BATCH_TRANSCRIPTS,
) -> IngestResult:
    """Ingest every transcript of `raw_dir` into the tables of `out_dir` (see the module docstring).

    The corpus streams: each new or changed transcript is read, goes through spaCy in batches
    and into its cache file, and is let go; then the transcripts are read back from the cache
    one at a time, to take their names and to write their rows (`_assemble`) into temporary
    files renamed into place at the end. Memory grows with the batches and the names, not with
    the corpus; a run that stops half-way leaves the tables of the last one as they were.

    Bad files raise `ManyInputErrors` naming each file, line and what was expected, and no
    table and no key is written (the transcripts read before a bad one stay in the cache, for
    the next run); with `keep_going` the good files are processed and the bad ones are listed
    in the result's `errors`. Unchanged transcripts come from the cache; `raw_dir` is only
    read.
    keys_dir: where the re-identification key and the cache go (default: `<raw_dir>/../keys`).
    client: a `distributed.Client`: spaCy runs on its workers, which get the cleaned text of the
        turns (never the key: the pseudonyms are given here).
    batch_transcripts: transcripts whose rows are built and written at a time.
    RETURNS (IngestResult): what was processed, skipped, removed, and the errors and warnings.
    """
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    if not raw_dir.is_dir():
        raise QualcodeInputError("raw transcripts folder not found", path=raw_dir)
    keys_dir = paths.keys_dir(raw_dir, keys_dir)
    result = IngestResult()
    participants = rows_by_transcript(raw_dir / PARTICIPANTS_FILE)
    questions = load_guide(guide_path)
    digest = settings_digest(params)
    corpus_words = CorpusWords()

    files = transcript_files(raw_dir)
    seen: dict[str, Path] = {}
    errors: list[tuple[int, QualcodeInputError]] = []
    known: list[tuple[int, str]] = []  # (file index, id) of the cached and the kept
    fresh: list[tuple[int, Path]] = []

    def count_in(item: dict[str, Any]) -> None:
        corpus_words.add(turn["text"] for turn in item["turns"])

    def bad(index: int, path: Path, err: QualcodeInputError) -> None:
        errors.append((index, err))
        previous_item = _load_cached(keys_dir, path.stem, None, digest) if keep_going else None
        if previous_item is not None:
            # codings and quantities still point at its rows: keep them, and say so
            result.kept.append(path.stem)
            result.warnings.append(
                f"{path}: unreadable now; kept its rows from the previous run "
                f"(sha256 {previous_item['sha256'][:12]}) until it is fixed or removed"
            )
            known.append((index, path.stem))
            count_in(previous_item)

    def raise_errors() -> None:
        if errors and not keep_going:
            found = [err for _index, err in sorted(errors, key=lambda e: e[0])]
            raise ManyInputErrors(found) if len(found) > 1 else found[0]

    with ExitStack() as locks:
        held: list[PseudonymKey] = []

        def hold_key() -> PseudonymKey:
            # the key's lock, taken when there is something to write (the keys folder is made
            # then): the cache of a transcript read, then the key and the tables
            if not held:
                held.append(locks.enter_context(locked_key(keys_dir)))
                schema.private_dir(keys_dir / CACHE_DIR)
            return held[0]

        for index, path in enumerate(files):
            tid = path.stem
            if tid in seen:
                errors.append(
                    (
                        index,
                        QualcodeInputError(
                            f"transcript id {tid!r} is also the stem of {seen[tid].name}; "
                            "expected one file per id",
                            path=path,
                        ),
                    )
                )
                continue
            seen[tid] = path
            try:
                if not path.resolve().is_relative_to(raw_dir.resolve()):
                    raise QualcodeInputError(
                        f"a symbolic link to {path.resolve()}, outside the raw folder; expected "
                        f"the transcript itself in {raw_dir}",
                        path=path,
                    )
                if path.suffix.lower() not in EXTENSIONS:
                    read_transcript(path)  # raises the unknown-extension error
                data = read_file_bytes(path, limits=params.limits)
                cached = _load_cached(keys_dir, tid, sha256_bytes(data), digest)
            except QualcodeInputError as err:
                bad(index, path, err)
                continue
            if cached is not None:
                result.skipped.append(tid)
                result.warnings.extend(cached["warnings"])
                known.append((index, tid))
                count_in(cached)
            else:
                fresh.append((index, path))

        def parse_fresh() -> Iterator[_Parsed]:
            for index, path in fresh:
                try:
                    data = read_file_bytes(path, limits=params.limits)
                    parsed = _parse_file(path, raw_dir, data, params)
                except QualcodeInputError as err:
                    bad(index, path, err)
                    continue
                if not errors or keep_going:  # after a bad file, the rest is only checked
                    yield parsed

        from tqdm import tqdm

        with tqdm(
            total=len(fresh),
            desc="ingest: spaCy",
            unit="transcript",
            file=sys.stderr,
            disable=not progress or not fresh or None,
        ) as bar:
            annotated = _annotate_stream(
                parse_fresh(),
                params.spacy_model,
                processes=params.processes,
                client=client,
            )
            for parsed in annotated if fresh else ():  # nothing new: no model to load
                item = _cache_payload(parsed, digest)
                hold_key()
                schema.write_json(
                    _cache_path(keys_dir, parsed.transcript_id),
                    item,
                    mode=schema.PRIVATE_FILE_MODE,
                )
                count_in(item)
                result.processed.append(parsed.transcript_id)
                result.warnings.extend(parsed.warnings)
                bar.update(1)
        raise_errors()
        result.errors = [err for _index, err in sorted(errors, key=lambda e: e[0])]

        key = hold_key()
        order = [tid for _index, tid in sorted(known)] + result.processed
        previous = schema.table_path(out_dir, "transcripts")
        if previous.exists():
            before = set(pd.read_parquet(previous, columns=["transcript_id"])["transcript_id"])
            result.removed = sorted(before - set(order) - set(seen))
        with ExitStack() as stack:
            writers = {
                name: stack.enter_context(
                    schema.TableWriter(schema.table_path(out_dir, name), columns, dtypes)
                )
                for name, (columns, dtypes) in INGEST_TABLES.items()
            }
            (report, review), warnings = _assemble(
                order,
                lambda tid: _read_cache(keys_dir, tid),
                corpus_words=corpus_words,
                participants=participants,
                questions=questions,
                key=key,
                params=params,
                write=lambda name, frame: writers[name].write(frame),
                batch_transcripts=batch_transcripts,
            )
            result.warnings.extend(warnings)
            cache = keys_dir / CACHE_DIR
            for path in sorted(cache.glob("*.json")) if cache.exists() else []:
                if path.stem not in seen:
                    path.unlink()
            result.tables = _write(
                {**writers, "deid_report": report},
                review=review,
                transcripts=order,
                out_dir=out_dir,
                key=key,
                keys_dir=keys_dir,
            )
    for warning in result.warnings:
        log.warning("%s", warning)
    return result


def ingest_text(
    transcript_id: str,
    text: str,
    *,
    out_dir: Path,
    params: Params,
    keys_dir: Path,
    fmt: str | None = None,
    source_path: str | None = None,
    participants: dict[str, str] | None = None,
    guide_path: Path | None = None,
) -> IngestResult:
    """Ingest one transcript given as text and add it to (or replace it in) the tables of `out_dir`.

    For texts that do not come from data/raw (a REFI-QDA project's sources). The format is
    detected from the text unless `fmt` is given; the rows of other transcripts are kept as they
    are; pseudonyms come from, and extend, the key in `keys_dir`.
    participants: the participants.csv row of this transcript, if any.
    RETURNS (IngestResult): processed = [transcript_id], with the warnings.
    """
    from qualcode.ingest.readers import parse_text

    source_path = source_path or f"{transcript_id}.txt"
    turns, warnings = parse_text(
        text,
        fmt=fmt,
        path=source_path,
        merge_threshold=params.ingest.speaker_merge_threshold,
        limits=params.limits,
    )
    from qualcode.ingest.readers import detect_text_format

    parsed = _Parsed(
        transcript_id=transcript_id,
        source_path=source_path,
        sha256=sha256_bytes(text.encode("utf-8")),
        format=fmt or detect_text_format(text),
        turns=_clean_turns(turns, params),
        warnings=warnings,
    )
    (parsed,) = _annotate_stream([parsed], params.spacy_model)
    item = {
        "transcript_id": transcript_id,
        "source_path": parsed.source_path,
        "sha256": parsed.sha256,
        "format": parsed.format,
        "turns": parsed.turns,
    }
    corpus_words = CorpusWords()
    corpus_words.add(turn["text"] for turn in parsed.turns)
    out_dir = Path(out_dir)
    with locked_key(Path(keys_dir)) as key, ExitStack() as stack:
        writers = {
            name: stack.enter_context(
                schema.TableWriter(schema.table_path(out_dir, name), columns, dtypes)
            )
            for name, (columns, dtypes) in INGEST_TABLES.items()
        }
        # the rows of the transcripts before this one, this one's, then those after it
        readers = {
            name: schema.TranscriptReader(schema.table_path(out_dir, name))
            for name in INGEST_TABLES
            if schema.table_path(out_dir, name).exists()
        }
        ids: set[str] = set()
        for name, reader in readers.items():
            before = _conform(reader.until(transcript_id), writers[name].columns)
            writers[name].write(before[before["transcript_id"] != transcript_id])
            if name == "transcripts":
                ids.update(before["transcript_id"].astype(str))
        # the report covers a whole run: the next `qualcode ingest` rebuilds it with this transcript
        _report, more = _assemble(
            [transcript_id],
            {transcript_id: item}.__getitem__,
            corpus_words=corpus_words,
            participants={transcript_id: participants} if participants else {},
            questions=load_guide(guide_path),
            key=key,
            params=params,
            write=lambda name, frame: writers[name].write(frame),
            whole_corpus=False,
        )
        for name, reader in readers.items():
            after = _conform(reader.rest(), writers[name].columns)
            writers[name].write(after)
            if name == "transcripts":
                ids.update(after["transcript_id"].astype(str))
        result = IngestResult(processed=[transcript_id], warnings=warnings + more)
        result.tables = _write(
            writers,
            review=None,
            transcripts=sorted(ids | {transcript_id}),
            out_dir=out_dir,
            key=key,
            keys_dir=Path(keys_dir),
        )
    return result


def _conform(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """RETURNS (DataFrame): the frame with the columns it lacks (a table of an earlier
    version) added, empty."""
    missing = [c for c in columns if c not in frame.columns]
    return frame.assign(**dict.fromkeys(missing)) if missing else frame


def format_errors(errors: Iterable[QualcodeInputError]) -> str:
    """RETURNS (str): one line per bad input."""
    return "\n".join(f"  - {err}" for err in errors)
