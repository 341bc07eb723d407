"""The model folder that `qualcode train` writes and `qualcode code --model` reads: model.json
(the coder: its codes, thresholds, feature vocabularies and settings), weights.npz (a logreg
model's numbers: idf values, scaler statistics, per-code coefficients), textcat/ (a textcat
model's spaCy pipeline, by spaCy's own to_disk), codebook.yml (the codebook it learned with),
card.json and card.md.

Nothing in a model folder is executable: JSON, numpy arrays read with `allow_pickle=False`, and
spaCy's own files. A folder of an older format (model.joblib, a pickle) is refused with a
request to train again, and never unpickled.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qualcode.coding.codebook import Codebook
from qualcode.errors import QualcodeInputError
from qualcode.learned.models import MODELS, LinearModel, TextcatModel
from qualcode.learned.train import MODEL_CODER, FittedCoder

log = logging.getLogger(__name__)

# The format of the model folder; a folder of another format is refused with a request to retrain.
MODEL_VERSION = "learned.v3"
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.npz"
# what learned.v2 and earlier wrote (a pickle): never loaded
OLD_MODEL_FILE = "model.joblib"
CARD_FILE = "card.json"
CARD_MARKDOWN = "card.md"
CODEBOOK_COPY = "codebook.yml"
TEXTCAT_DIR = "textcat"


def _replace_dir(tmp: Path, out_dir: Path) -> None:
    """Move a freshly written folder into place; the previous one goes only once it is there."""
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    if old is not None:
        shutil.rmtree(old)


def check_out_dir(out_dir: Path) -> None:
    """Refuse to write a model over a folder that is not a model folder (raises
    QualcodeInputError). RETURNS (None)."""
    if out_dir.exists() and (
        not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / CARD_FILE).exists())
    ):
        raise QualcodeInputError(
            "expected a new folder or a model folder written by `qualcode train` (it holds "
            f"{CARD_FILE}); refusing to replace it",
            path=out_dir,
        )


def _digest_files(digest: Any, root: Path, folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())


def _write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays as an .npz archive (numpy's format, no pickled objects) whose bytes depend
    on the arrays only (numpy's own savez stamps each entry with the time)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue())


def _frame_json(frame: pd.DataFrame) -> dict[str, Any]:
    return json.loads(frame.to_json(orient="table", index=False))


def _frame_from_json(data: dict[str, Any]) -> pd.DataFrame:
    return pd.read_json(io.StringIO(json.dumps(data)), orient="table")


def coder_state(coder: FittedCoder) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A trained coder as plain values: model.json's content and weights.npz's arrays.

    RETURNS (tuple[dict, dict[str, ndarray]]): the JSON description and the arrays (none for
    a textcat model, whose pipeline spaCy saves).
    """
    if isinstance(coder.model, LinearModel):
        model, arrays = coder.model.state()
    elif isinstance(coder.model, TextcatModel):
        model, arrays = coder.model.state(), {}
    else:
        raise TypeError(f"cannot save a model of type {type(coder.model).__name__}")
    described = {
        "model_version": MODEL_VERSION,
        "kind": coder.kind,
        "blocks": list(coder.blocks),
        "codes": list(coder.codes),
        "thresholds": [float(t) for t in coder.thresholds],
        "below": {code: list(found) for code, found in sorted(coder.below.items())},
        "seed": int(coder.seed),
        "counts": _frame_json(coder.counts),
        "held_out": _frame_json(coder.held_out),
        "model": model,
    }
    return described, arrays


def coder_from_state(described: dict[str, Any], arrays: Any, *, nlp: Any = None) -> FittedCoder:
    """RETURNS (FittedCoder): the trained coder of `coder_state`'s values (nlp: a textcat
    model's spaCy pipeline)."""
    kind = described["kind"]
    if kind not in MODELS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {sorted(MODELS)}")
    if kind == TextcatModel.kind:
        model = TextcatModel.from_state(described["model"], nlp)
    else:
        model = LinearModel.from_state(described["model"], arrays)
    codes = [str(c) for c in described["codes"]]
    thresholds = np.asarray(described["thresholds"], dtype=float)
    if len(thresholds) != len(codes):
        raise ValueError(f"{len(codes)} codes but {len(thresholds)} thresholds")
    return FittedCoder(
        kind=kind,
        blocks=tuple(str(b) for b in described["blocks"]),
        codes=codes,
        thresholds=thresholds,
        model=model,
        counts=_frame_from_json(described["counts"]),
        held_out=_frame_from_json(described["held_out"]),
        below={str(k): [str(c) for c in v] for k, v in described["below"].items()},
        seed=int(described["seed"]),
    )


def save_model(
    coder: FittedCoder,
    out_dir: Path,
    *,
    card_for: Callable[[str], dict[str, Any]],
    codebook: Codebook | None,
) -> dict[str, Any]:
    """Write a trained coder to a folder: model.json and weights.npz (`coder_state`), textcat/
    (spaCy's to_disk, for a textcat model), codebook.yml (the codebook it was trained with),
    card.json and card.md.

    The folder is written beside out_dir and renamed into place, so a failed run leaves the
    previous model intact.
    card_for: builds the card from the model id.
    RETURNS (dict): the card.
    """
    from qualcode.learned.card import card_markdown

    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        digest = hashlib.sha256()
        if isinstance(coder.model, TextcatModel):
            coder.model.nlp.to_disk(tmp / TEXTCAT_DIR)
            _digest_files(digest, tmp, tmp / TEXTCAT_DIR)
        described, arrays = coder_state(coder)
        if arrays:
            _write_arrays(tmp / WEIGHTS_FILE, arrays)
            digest.update((tmp / WEIGHTS_FILE).read_bytes())
        (tmp / MODEL_FILE).write_text(
            json.dumps(described, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        digest.update((tmp / MODEL_FILE).read_bytes())
        if codebook is not None and codebook.source_path is not None:
            shutil.copyfile(codebook.source_path, tmp / CODEBOOK_COPY)
        model_id = f"{coder.kind}-{digest.hexdigest()[:12]}"
        card = card_for(model_id)
        (tmp / CARD_FILE).write_text(
            json.dumps(card, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        (tmp / CARD_MARKDOWN).write_text(card_markdown(card), encoding="utf-8")
        for path in tmp.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        tmp.chmod(0o755)
        _replace_dir(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return card


@dataclass
class LoadedModel:
    """A model folder written by `train`."""

    path: Path
    coder: FittedCoder
    card: dict[str, Any]
    codebook: Codebook | None

    @property
    def model_id(self) -> str:
        """RETURNS (str): the model id of the card."""
        return str(self.card["model_id"])

    @property
    def rule_id(self) -> str:
        """RETURNS (str): the rule_id of the model's codings: `model:<model id>`."""
        return f"{MODEL_CODER}:{self.model_id}"


def _retrain(found: Any, path: Path) -> QualcodeInputError:
    return QualcodeInputError(
        f"model format {found!r}, expected {MODEL_VERSION!r}: the folder was written by another "
        "version of qualcode; train the model again (`qualcode train`, or `qualcode run`)",
        path=path,
    )


def load_model(model_dir: Path) -> LoadedModel:
    """Load a model folder written by `qualcode train`.

    Reads JSON, numpy arrays (`allow_pickle=False`) and, for a textcat model, spaCy's own
    files: nothing is unpickled. A folder of another model format (MODEL_VERSION), such as one
    holding model.joblib, is refused with a request to train it again.
    RETURNS (LoadedModel): the model, its card and the codebook it was trained with.
    """
    from qualcode.coding.codebook import parse_codebook
    from qualcode.learned.card import software

    model_dir = Path(model_dir)
    card_path = model_dir / CARD_FILE
    model_path = model_dir / MODEL_FILE
    if not card_path.is_file():
        raise QualcodeInputError(
            f"expected a model folder written by `qualcode train` (missing {CARD_FILE})",
            path=model_dir,
        )
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise QualcodeInputError(f"expected a JSON model card ({err})", path=card_path) from None
    written = card.get("model_version") if isinstance(card, dict) else None
    if written is not None and written != MODEL_VERSION:
        raise _retrain(written, model_dir)
    if not model_path.is_file():
        if (model_dir / OLD_MODEL_FILE).is_file():
            # a pickle of an earlier version: never loaded
            raise _retrain(f"{OLD_MODEL_FILE} (learned.v2 or earlier)", model_dir)
        raise QualcodeInputError(
            f"expected a model folder written by `qualcode train` (missing {MODEL_FILE})",
            path=model_dir,
        )
    try:
        described = json.loads(model_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise QualcodeInputError(
            f"cannot load the model (expected JSON: {err}); train it again", path=model_path
        ) from None
    found = described.get("model_version") if isinstance(described, dict) else "?"
    if found != MODEL_VERSION:
        raise _retrain(found, model_path)
    try:
        nlp = None
        if described.get("kind") == TextcatModel.kind:
            import spacy

            nlp = spacy.load(model_dir / TEXTCAT_DIR)
        if (model_dir / WEIGHTS_FILE).is_file():
            with np.load(model_dir / WEIGHTS_FILE, allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files}
        else:
            arrays = {}
        coder = coder_from_state(described, arrays, nlp=nlp)
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile) as err:
        raise QualcodeInputError(
            f"cannot load the model ({type(err).__name__}: {err}); train it again",
            path=model_dir,
        ) from None
    codebook = None
    if (model_dir / CODEBOOK_COPY).is_file():
        codebook = parse_codebook(
            (model_dir / CODEBOOK_COPY).read_text(encoding="utf-8"), path=model_dir / CODEBOOK_COPY
        )
    expected = card.get("software", {}).get("scikit-learn")
    current = software().get("scikit-learn")
    if expected and expected != current:
        log.warning("model trained with scikit-learn %s, running %s", expected, current)
    return LoadedModel(path=model_dir, coder=coder, card=card, codebook=codebook)
