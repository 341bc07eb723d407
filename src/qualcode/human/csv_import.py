"""Human coding from a CSV of quotes or offsets, one file or a folder of them.

Columns `transcript_id`, `code` (or `code_id`; a code id or label) and either `quote` or `start`
and `end`. A quote is found in the transcript insensitive to whitespace, case and quote style
(straight or curly quotes, dashes); it may span several turns and then codes each of them. Quotes
are looked for in the cleaned text, then in the words as spoken (`text_raw`), then in the raw file
(plain text transcripts), first as characters, then as words ignoring punctuation, then without
the speaker labels and timestamps a QDA tool exports inside a passage, and last fuzzily, word by
word (an ellipsis, a dropped filler, a name for our pseudonym; see `qualcode.human.align`). How
each quote was found is kept per row (`ImportResult.quotes`, one line per file by `quote_lines`).
Optional `description` and `parent` columns describe a code that is not in the codebook (kept in
imported_codes.parquet, so `qualcode export` gives it back as it was). An optional `turn_id`
column narrows the search (or, with offsets, says which turn `start` and `end` count in; without
it they count in the transcript document that `qualcode export qdpx` writes). Missing and
ambiguous quotes are reported by line and skipped; broken rows (unknown transcript, bad offsets,
missing columns) stop the import and nothing is written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from qualcode import schema
from qualcode.coding.codebook import Codebook
from qualcode.errors import ManyInputErrors, QualcodeInputError
from qualcode.human.align import Corpus, match_quote
from qualcode.human.store import (
    PIECE_COLUMNS,
    CodeResolver,
    ImportResult,
    QuoteOutcome,
    coder_name,
    finish_rows,
    load_codebook_or_none,
    pieces_to_rows,
    write_human_codings,
)

logger = logging.getLogger(__name__)


CSV_REQUIRED = "transcript_id, code (or code_id), and quote or start and end"


def _csv_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    text = schema.read_csv_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise QualcodeInputError(
            f"empty file; expected a header with {CSV_REQUIRED}", path=path
        ) from None
    except csv.Error as err:
        raise QualcodeInputError(f"expected CSV ({err})", path=path, line=1) from None
    header = [h.strip().lower() for h in header]
    rows = []
    line = reader.line_num + 1
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                # cells our CSV exports neutralised for spreadsheets ('=...) come back as they were
                record = [schema.restore_cell(cell) for cell in record]
                padded = record + [""] * (len(header) - len(record))
                rows.append((line, dict(zip(header, padded, strict=False))))
            line = reader.line_num + 1
    except csv.Error as err:
        raise QualcodeInputError(f"expected CSV ({err})", path=path, line=line) from None
    return header, rows


def _check_csv_columns(header: list[str], path: Path) -> tuple[str, str]:
    missing = []
    if "transcript_id" not in header:
        missing.append("transcript_id")
    code_column = "code" if "code" in header else "code_id" if "code_id" in header else None
    if code_column is None:
        missing.append("code (or code_id)")
    has_quote = "quote" in header
    has_offsets = "start" in header and "end" in header
    if not has_quote and not has_offsets:
        missing.append("quote (or start and end)")
    if missing:
        raise QualcodeInputError(
            f"missing column(s) {', '.join(missing)}; expected {CSV_REQUIRED} "
            f"(found: {', '.join(header) or 'none'})",
            path=path,
            line=1,
        )
    return code_column, ("quote" if has_quote else "offsets")


def _parent_id(resolver: CodeResolver, parent: str | None) -> str | None:
    """RETURNS (str | None): our id for the code a row names in its `parent` column (a code
    of the codebook, or a new code recorded with its name), None when the cell is empty."""
    parent = (parent or "").strip()
    return resolver.resolve(parent) if parent else None


def _int_cell(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if number == int(number) else None


def read_coding_csv(
    path: Path,
    corpus: Corpus,
    *,
    coder: str,
    codebook: Codebook | None,
    skip_other_transcripts: bool = False,
) -> ImportResult:
    """Read a CSV of human coding and map every row onto turns and sentences.

    Rows naming transcripts that are not in the study (coding left over from another study) are
    one error for the file, naming them and what to do; with `skip_other_transcripts` they are
    left out and reported in one line.
    RETURNS (ImportResult): the coding rows (not yet written) and what was reported.
    """
    path = Path(path)
    coder = coder_name(coder)
    header, rows = _csv_rows(path)
    code_column, mode = _check_csv_columns(header, path)
    resolver = CodeResolver(codebook)
    known = set(corpus.transcript_ids)
    errors: list[QualcodeInputError] = []
    problems: list[str] = []
    matches: Counter = Counter()
    quotes: list[QuoteOutcome] = []
    pieces = []
    others: Counter = Counter()
    for line, row in rows:
        transcript_id = row.get("transcript_id", "").strip()
        code = row.get(code_column, "").strip()
        if not transcript_id:
            errors.append(QualcodeInputError("empty transcript_id", path=path, line=line))
            continue
        if transcript_id not in known:
            others[transcript_id] += 1
            continue
        if not code:
            errors.append(QualcodeInputError(f"empty {code_column}", path=path, line=line))
            continue
        turn_id = None
        if row.get("turn_id", "").strip():
            turn_id = _int_cell(row["turn_id"])
            if turn_id is None or corpus.turn_text(transcript_id, turn_id) is None:
                errors.append(
                    QualcodeInputError(
                        f"turn_id {row['turn_id']!r} is not a turn of {transcript_id}",
                        path=path,
                        line=line,
                    )
                )
                continue
        found: list[tuple[int, int, int]]
        if mode == "quote" and row.get("quote", "").strip():
            match = match_quote(corpus, transcript_id, row["quote"], turn_id=turn_id)
            occurrences = match.occurrences
            quotes.append(QuoteOutcome(path.name, line, match.how, match.score))
            if not occurrences:
                problems.append(f"{path.name}, line {line}: quote not found in {transcript_id}")
                continue
            if len(occurrences) > 1:
                turns_listed = ", ".join(str(o[0][0]) for o in occurrences[:5])
                problems.append(
                    f"{path.name}, line {line}: quote found {len(occurrences)} times in "
                    f"{transcript_id} (turns {turns_listed}); add a turn_id column to choose"
                )
                continue
            found = occurrences[0]
            matches[match.how] += 1
        elif "start" in header and "end" in header:
            start, end = _int_cell(row.get("start", "")), _int_cell(row.get("end", ""))
            if start is None or end is None or start < 0 or end <= start:
                errors.append(
                    QualcodeInputError(
                        f"start and end must be whole numbers with 0 <= start < end, got "
                        f"{row.get('start')!r} and {row.get('end')!r}",
                        path=path,
                        line=line,
                    )
                )
                continue
            if turn_id is not None:
                limit = len(corpus.turn_text(transcript_id, turn_id) or "")
                what = f"turn {turn_id} of {transcript_id}"
            else:
                limit = len(corpus.doc(transcript_id).text)
                what = f"the text of {transcript_id}"
            if end > limit:
                errors.append(
                    QualcodeInputError(
                        f"end {end} is beyond {what} ({limit} characters)", path=path, line=line
                    )
                )
                continue
            if turn_id is not None:
                found = [(turn_id, start, end)]
            else:
                found = corpus.doc(transcript_id).turn_spans(start, end)
            matches["offsets"] += 1
        else:
            problems.append(f"{path.name}, line {line}: empty quote")
            continue
        code_id = resolver.resolve(
            code,
            description=row.get("description", ""),
            parent_id=_parent_id(resolver, row.get("parent", "")),
        )
        for turn, lo, hi in found:
            pieces.append(
                {
                    "transcript_id": transcript_id,
                    "turn_id": turn,
                    "start_char": lo,
                    "end_char": hi,
                    "code_id": code_id,
                    "coder": coder,
                    "selection_id": f"{path.name}:{line}",
                    "source": path.name,
                }
            )
    if others:
        named = ", ".join(sorted(others)[:5]) + (" ..." if len(others) > 5 else "")
        what = (
            f"{sum(others.values())} row(s) code {len(others)} transcript(s) that are not in the "
            f"study ({named})"
        )
        if skip_other_transcripts:
            problems.append(f"{path.name}: {what}; left out")
        else:
            errors.insert(
                0,
                QualcodeInputError(
                    f"{what}: coding left from another study? Remove the file (or move it out "
                    "of this folder), put those transcripts in the raw folder and run "
                    "`qualcode ingest`, or run `qualcode run --skip-other-coding` to go on "
                    "without those rows",
                    path=path,
                ),
            )
    if errors:
        raise errors[0] if len(errors) == 1 else ManyInputErrors(errors)
    piece_frame = pd.DataFrame(pieces, columns=PIECE_COLUMNS)
    version = codebook.version if codebook is not None else None
    codings = finish_rows(pieces_to_rows(piece_frame, corpus), codebook_version=version)
    for problem in problems:
        logger.info(problem)
    return ImportResult(
        source=path,
        codings=codings,
        n_selections=len(rows),
        unknown_codes=dict(resolver.unknown),
        imported_codes=resolver.imported_codes(path.name),
        problems=problems,
        matches=matches,
        quotes=quotes,
    )


def coded_transcripts(folders: Iterable[Path]) -> set[str] | None:
    """The transcripts the CSVs of some coding folders name (their `transcript_id` cells).

    RETURNS (set[str] | None): the transcript ids; None when a CSV cannot be read as one (its
        import stops at that file).
    """
    named: set[str] = set()
    for folder in folders:
        files = sorted(Path(folder).glob("*.csv")) if Path(folder).is_dir() else []
        for path in files:
            try:
                _header, rows = _csv_rows(path)
            except QualcodeInputError:
                return None
            named.update(row.get("transcript_id", "").strip() for _line, row in rows)
    named.discard("")
    return named


def import_inputs(
    folders: Sequence[Path], processed_dir: Path, *, raw_dir: Path | None = None
) -> dict[str, str]:
    """What `import_csv_folder` reads of the study for these folders, besides the folders and the
    codebook, as digests: per transcript a coding file names, the sha256 of its rows of
    transcripts, turns and sentences (none: it is not in the study) and of its raw text file
    (quotes are looked for there too). Nothing of a transcript no coding file names is read,
    so a transcript added or changed that nobody coded leaves these as they were, and one that a
    coding file names changes them when it comes into the study, changes or goes.

    When a coding file cannot be read as CSV (the import stops at it), the sha256 of each table,
    whole, instead.

    RETURNS (dict[str, str]): `transcript/<id>` (or `table/<file>`) -> hex digest.
    """
    processed_dir = Path(processed_dir)
    tables = ("transcripts", "turns", "sentences")
    named = coded_transcripts(folders)
    if named is None:
        return {
            f"table/{path.name}": schema.file_sha256(path)
            for path in (schema.table_path(processed_dir, name) for name in tables)
            if path.exists()
        }
    if not named:
        return {}
    frames: dict[str, pd.DataFrame | None] = {}
    for name in tables:
        path = schema.table_path(processed_dir, name)
        frames[name] = (
            pq.read_table(path, filters=[("transcript_id", "in", sorted(named))]).to_pandas()
            if path.exists()
            else None
        )
    corpus = Corpus(
        turns=frames["turns"] if frames["turns"] is not None else pd.DataFrame(),
        sentences=frames["sentences"] if frames["sentences"] is not None else pd.DataFrame(),
        transcripts=frames["transcripts"],
        raw_dir=raw_dir,
    )
    out = {}
    for transcript_id in sorted(named):
        digest = hashlib.sha256()
        for name, frame in frames.items():
            digest.update(f"\n{name}:".encode())
            if frame is not None:
                rows = frame[frame["transcript_id"].astype(str) == transcript_id]
                text = rows.to_json(orient="split", index=False, double_precision=15)
                digest.update(text.encode())
        raw = corpus.raw_path(transcript_id)
        digest.update(b"\nraw:" + (b"-" if raw is None else schema.file_sha256(raw).encode()))
        out[f"transcript/{transcript_id}"] = digest.hexdigest()
    return out


def import_csv(
    path: Path,
    processed_dir: Path,
    *,
    coder: str | None = None,
    codebook_path: Path | None = None,
    raw_dir: Path | None = None,
) -> ImportResult:
    """`qualcode import-coding FILE.csv`: read, map and merge into human_codings.parquet.

    coder: the coder name (default `human:<file stem>`).
    RETURNS (ImportResult): what was imported; `written` is the table path.
    """
    path = Path(path)
    corpus = Corpus.load(processed_dir, raw_dir=raw_dir)
    codebook = load_codebook_or_none(codebook_path)
    result = read_coding_csv(path, corpus, coder=coder or path.stem, codebook=codebook)
    replace = {(coder_name(coder or path.stem), t) for t in result.transcripts}
    result.written = write_human_codings(
        result.codings, processed_dir, replace=replace, codes=result.imported_codes
    )
    return result


def import_csv_folder(
    folder: Path,
    processed_dir: Path,
    *,
    coder: str,
    codebook_path: Path | None = None,
    raw_dir: Path | None = None,
    skip_other_transcripts: bool = False,
) -> ImportResult | None:
    """Import every CSV of a folder as one coder, replacing all earlier rows of that coder.

    skip_other_transcripts: leave out the rows of transcripts not in the study (see
        `read_coding_csv`).
    RETURNS (ImportResult | None): the combined result, None when the folder holds no CSV.
    """
    files = sorted(Path(folder).glob("*.csv")) if Path(folder).is_dir() else []
    if not files:
        return None
    corpus = Corpus.load(processed_dir, raw_dir=raw_dir)
    codebook = load_codebook_or_none(codebook_path)
    results = [
        read_coding_csv(
            f,
            corpus,
            coder=coder,
            codebook=codebook,
            skip_other_transcripts=skip_other_transcripts,
        )
        for f in files
    ]
    codings = finish_rows(
        pd.concat([r.codings for r in results], ignore_index=True),
        codebook_version=codebook.version if codebook is not None else None,
    )
    imported = [r.imported_codes for r in results if r.imported_codes is not None]
    imported = [f for f in imported if len(f)]
    combined = ImportResult(
        source=Path(folder),
        codings=codings,
        n_selections=sum(r.n_selections for r in results),
        unknown_codes={k: v for r in results for k, v in r.unknown_codes.items()},
        imported_codes=pd.concat(imported, ignore_index=True) if imported else None,
        problems=[p for r in results for p in r.problems],
        matches=sum((r.matches for r in results), Counter()),
        quotes=[q for r in results for q in r.quotes],
    )
    combined.written = write_human_codings(
        codings, processed_dir, replace_coders=[coder_name(coder)], codes=combined.imported_codes
    )
    return combined
