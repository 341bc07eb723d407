"""What spaCy gives of each transcript's units, read once and kept: per participant sentence its
lemmas, the mean of spaCy's tok2vec output and the codes the rule coder gave it, and per
interviewer question before them its lemmas (`Reading`).

A transcript is read with spaCy on its own (`read_transcript`: its sentences, then its
questions), so that what it gives depends on that transcript alone and not on the others read
with it. `ReadingCache` keeps each reading in a hidden folder of the processed folder, by the
digest of everything it depends on (`reading_digest`): the texts read and the units they belong
to, the codebook (its rules are in the pipeline), the coding settings, the spaCy model and
version, and the format of the cache. A transcript whose digest is in the cache is not read
with spaCy again; one that changed gets a new digest, and its old reading is pruned.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from spacy.language import Language

from qualcode import __version__, schema
from qualcode.coding.codebook import Codebook
from qualcode.coding.negation import Cues
from qualcode.coding.rules import PIPELINE_VERSION, CodingUnit, code_docs
from qualcode.config import Params
from qualcode.nlp import model_info

log = logging.getLogger(__name__)

# the hidden folder of the processed folder the readings are kept in (not a table)
READINGS_FOLDER = ".sentence_readings"
# what a kept reading holds and how: a reading of another format is never read back
READINGS_FORMAT = 1


@dataclass
class Reading:
    """What spaCy gives of one transcript's units, in the order of its units.

    lemmas: per unit, its lemmas (`features.lemma_text`).
    tok2vec: per unit, the mean of spaCy's tok2vec output over its tokens [n, width] (float32;
        width 0 when the pipeline gives no tensor).
    rules: per unit, the codes the rule coder gave it, space-separated.
    questions: each question text of the transcript -> its lemmas.
    """

    lemmas: list[str]
    tok2vec: np.ndarray
    rules: list[str]
    questions: dict[str, str]

    def __len__(self) -> int:
        return len(self.lemmas)


def read_transcript(
    nlp: Language,
    units: Sequence[CodingUnit],
    questions: Sequence[str],
    *,
    codebook: Codebook | None,
    params: Params,
    batch_size: int = 256,
) -> Reading:
    """Read one transcript's units and questions with spaCy.

    units: the transcript's units, in order; questions: the interviewer questions before them.
    RETURNS (Reading): the lemmas, vectors and rule codes of the units, the questions' lemmas.
    """
    from qualcode.learned.features import lemma_text

    with warnings.catch_warnings():
        # W036: a codebook without patterns leaves the SpanRuler empty (harmless)
        warnings.filterwarnings("ignore", message=r"\[W036\]")
        docs = list(nlp.pipe((u.text for u in units), batch_size=batch_size))
        question_docs = list(nlp.pipe(questions, batch_size=batch_size))
    width = max(
        (d.tensor.shape[1] for d in docs if d.tensor is not None and d.tensor.size), default=0
    )
    tok2vec = np.zeros((len(docs), width), dtype=np.float32)
    lemmas = []
    for i, doc in enumerate(docs):
        lemmas.append(lemma_text(doc))
        if doc.tensor is not None and doc.tensor.size:
            tok2vec[i] = doc.tensor.mean(axis=0)
    codes_of: dict[tuple[int, int], list[str]] = {}
    if codebook is not None and len(codebook):
        rows, _ = code_docs(zip(docs, units, strict=True), codebook, cues=Cues.from_params(params))
        for row in rows:
            key = (int(row["turn_id"]), int(row["sentence_id"]))
            codes_of.setdefault(key, []).append(str(row["code_id"]))
    rules = [" ".join(codes_of.get((int(u.turn_id), int(u.sentence_id)), [])) for u in units]
    return Reading(
        lemmas=lemmas,
        tok2vec=tok2vec,
        rules=rules,
        questions={
            text: lemma_text(doc) for text, doc in zip(questions, question_docs, strict=True)
        },
    )


def reading_settings(*, codebook: Codebook | None, params: Params) -> str:
    """The sha256 of what every transcript's reading depends on besides its own units: the
    codebook's sha256 (the pipeline holds its rules), the coding settings (the rule coder's
    cues), the rule coder's pipeline version, the spaCy model, its version and spaCy's (read
    from the model's meta.json, no weights loaded), the package version and the cache format.

    RETURNS (str): the hex digest.
    """
    blob = json.dumps(
        {
            "format": READINGS_FORMAT,
            "version": __version__,
            "rules": PIPELINE_VERSION,
            "model": params.spacy_model,
            "installed": model_info(params.spacy_model),
            "codebook": None if codebook is None else codebook.sha256,
            "coding": params.to_dict()["coding"],
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def reading_digest(settings: str, units: Sequence[CodingUnit], questions: Sequence[str]) -> str:
    """The sha256 of everything a transcript's reading depends on: `settings`
    (`reading_settings`), its units (ids, offsets and text, in order) and its questions.

    RETURNS (str): the hex digest.
    """
    digest = hashlib.sha256(settings.encode())
    for unit in units:
        row = [
            str(unit.transcript_id),
            int(unit.turn_id),
            int(unit.sentence_id),
            int(unit.start_char),
            int(unit.end_char),
            str(unit.text),
        ]
        digest.update(b"\n" + json.dumps(row).encode())
    digest.update(b"\nquestions")
    for text in questions:
        digest.update(b"\n" + json.dumps(str(text)).encode())
    return digest.hexdigest()


@dataclass
class ReadingCache:
    """The readings of transcripts already read with spaCy, kept in a folder by their digest
    (`reading_digest`), each an .npz: the vectors as an array, the texts as UTF-8 JSON (nothing
    pickled). A kept reading that cannot be read back whole is read with spaCy again.

    used: the digests read or written since the cache was opened (`prune` keeps only those).
    """

    folder: Path
    used: set[str] = field(default_factory=set)

    def _path(self, digest: str) -> Path:
        return self.folder / f"{digest}.npz"

    def get(self, digest: str, n_units: int) -> Reading | None:
        """RETURNS (Reading | None): the kept reading of `n_units` units, None when there is
        none or it is unreadable."""
        try:
            with np.load(self._path(digest), allow_pickle=False) as saved:
                tok2vec = np.asarray(saved["tok2vec"], dtype=np.float32)
                texts = json.loads(bytes(saved["texts"]).decode("utf-8"))
            lemmas = [str(t) for t in texts["lemmas"]]
            rules = [str(t) for t in texts["rules"]]
            questions = {str(k): str(v) for k, v in texts["questions"].items()}
        except FileNotFoundError:
            return None
        except Exception as err:  # noqa: BLE001 - an unreadable reading is read again
            # (a file cut short or not an .npz: zipfile, zlib, numpy and json raise their own)
            log.debug("reading %s unreadable (%s); read again", digest, err)
            return None
        if texts.get("digest") != digest or not (
            len(lemmas) == len(rules) == len(tok2vec) == n_units and tok2vec.ndim == 2
        ):
            log.debug("reading %s does not fit its units; read again", digest)
            return None
        self.used.add(digest)
        return Reading(lemmas=lemmas, tok2vec=tok2vec, rules=rules, questions=questions)

    def put(self, digest: str, reading: Reading) -> None:
        """Keep a reading (atomically: a temporary file renamed into place). A folder that cannot
        be written to leaves the reading unkept (the next run reads the transcript again)."""
        texts = json.dumps(
            {
                "digest": digest,
                "lemmas": reading.lemmas,
                "rules": reading.rules,
                "questions": reading.questions,
            },
            sort_keys=True,
        ).encode("utf-8")

        def write(tmp: Path) -> None:
            with tmp.open("wb") as handle:
                np.savez(
                    handle,
                    tok2vec=np.ascontiguousarray(reading.tok2vec, dtype=np.float32),
                    texts=np.frombuffer(texts, dtype=np.uint8),
                )

        try:
            schema.atomic_write(self._path(digest), write)
        except OSError as err:
            log.warning("could not keep the spaCy reading in %s (%s)", self.folder, err)
        self.used.add(digest)

    def prune(self) -> None:
        """Remove the readings not used since the cache was opened (those of transcripts no
        longer in the study, or changed since), and temporary files a killed run left."""
        if not self.folder.is_dir():
            return
        for path in self.folder.iterdir():
            stale = path.suffix == ".npz" and path.stem not in self.used
            if stale or path.name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    path.unlink()
