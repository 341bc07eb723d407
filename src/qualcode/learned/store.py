"""The model folder that `qualcode train` writes and `qualcode code --model` reads: model.joblib,
textcat/ (a textcat model's spaCy pipeline), codebook.yml (the codebook it learned with),
card.json and card.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qualcode.coding.codebook import Codebook
from qualcode.errors import QualcodeInputError
from qualcode.learned.models import TextcatModel
from qualcode.learned.train import MODEL_CODER, FittedCoder

log = logging.getLogger(__name__)

# The format of model.joblib; a folder of another format is refused with a request to retrain.
MODEL_VERSION = "learned.v2"
MODEL_FILE = "model.joblib"
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


def save_model(
    coder: FittedCoder,
    out_dir: Path,
    *,
    card_for: Callable[[str], dict[str, Any]],
    codebook: Codebook | None,
) -> dict[str, Any]:
    """Write a trained coder to a folder: model.joblib (joblib), textcat/ (spaCy's to_disk, for
    a textcat model), codebook.yml (the codebook it was trained with), card.json and card.md.

    The folder is written beside out_dir and renamed into place, so a failed run leaves the
    previous model intact.
    card_for: builds the card from the model id.
    RETURNS (dict): the card.
    """
    import joblib

    from qualcode.learned.card import card_markdown

    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        digest = hashlib.sha256()
        if isinstance(coder.model, TextcatModel):
            # not pickled with the model (TextcatModel.__getstate__): saved by spaCy
            coder.model.nlp.to_disk(tmp / TEXTCAT_DIR)
            _digest_files(digest, tmp, tmp / TEXTCAT_DIR)
        joblib.dump({"model_version": MODEL_VERSION, "coder": coder}, tmp / MODEL_FILE, compress=3)
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

    Loading runs joblib (pickle): load only model folders you made or trust. A folder of
    another model format (MODEL_VERSION) is refused with a request to train it again.
    RETURNS (LoadedModel): the model, its card and the codebook it was trained with.
    """
    import joblib

    from qualcode.coding.codebook import parse_codebook
    from qualcode.learned.card import software

    model_dir = Path(model_dir)
    card_path = model_dir / CARD_FILE
    model_path = model_dir / MODEL_FILE
    for path in (card_path, model_path):
        if not path.is_file():
            raise QualcodeInputError(
                f"expected a model folder written by `qualcode train` (missing {path.name})",
                path=model_dir,
            )
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise QualcodeInputError(f"expected a JSON model card ({err})", path=card_path) from None
    written = card.get("model_version") if isinstance(card, dict) else None
    if written is not None and written != MODEL_VERSION:
        # checked before unpickling: an older model.joblib names classes that have moved
        raise _retrain(written, model_dir)
    try:
        stored = joblib.load(model_path)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is a bad model file
        raise QualcodeInputError(
            f"cannot load the model ({type(err).__name__}: {err}); train it again",
            path=model_path,
        ) from None
    found = stored.get("model_version") if isinstance(stored, dict) else "?"
    if found != MODEL_VERSION:
        raise _retrain(found, model_path)
    coder = stored["coder"]
    if isinstance(coder.model, TextcatModel):
        import spacy

        coder.model.nlp = spacy.load(model_dir / TEXTCAT_DIR)
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
