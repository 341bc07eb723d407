"""REFI-QDA projects imported as people's coding (`qualcode import-coding FILE.qdpx`).

Each TextSource of a project read by `refi.read_qdpx` maps to a transcript by name (file extension,
case and punctuation ignored); a source that is not in data/processed yet is ingested from its text
(`qualcode.ingest.corpus.ingest_text`), and a source matched by name onto text it does not share
enough words with is refused. Selections map onto turns and sentences with `human.align` and
`human.store` (which states the overlap rule). A coding's coder is `human:<user name>` of its
creatingUser (of the Coding, else of its selection, source or project); codings whose user is a
machine coder (`rules`, `model`: our own export coming back) are counted and left out, since
`qualcode code` rebuilds them. Codes map to the codebook by label or id; others keep the slug of
their name, are listed, and their name, description and parent are kept in imported_codes.parquet
(`human.store.write_imported_codes`) for `qualcode export qdpx` to give back.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path, PurePosixPath

import pandas as pd

from qualcode import schema
from qualcode.errors import QualcodeInputError
from qualcode.human.align import Corpus
from qualcode.human.refi import SOURCE_SUFFIXES, RefiProject, RefiSelection, RefiSource, read_qdpx
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
from qualcode.participants import PARTICIPANTS_FILE, rows_by_transcript

logger = logging.getLogger(__name__)


# A source matched by name to a processed transcript must share at least this fraction of its
# words with it, or its offsets would code unrelated sentences.
MIN_SHARED_WORDS = 0.5


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
    from qualcode import paths
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
            guide_path=paths.guide_path(params_path or paths.PARAMS_PATH),
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
    code_ids: dict[str, str] = {}
    for g, c in project.codes.items():  # parents come before their children
        code_ids[g] = resolver.resolve(
            c.name,
            project.code_path(g)[:-1],
            description=c.description,
            parent_id=code_ids.get(c.parent) if c.parent is not None else None,
        )
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
    imported_codes = resolver.imported_codes(project.path.name)
    written = write_human_codings(codings, processed_dir, replace=replace, codes=imported_codes)
    return ImportResult(
        source=project.path,
        codings=codings,
        n_selections=counts["selections"],
        n_uncoded_selections=counts["uncoded_selections"],
        n_source_codings=counts["source_codings"],
        n_machine_codings=counts["machine_codings"],
        n_unmapped=counts["unmapped_selections"],
        unknown_codes=dict(resolver.unknown),
        imported_codes=imported_codes,
        ingested=[t for _, t in to_ingest],
        cases=project.cases,
        written=written,
    )
