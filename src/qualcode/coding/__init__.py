"""Coding: the codebook and the rule coder that applies it.

`codebook` loads and validates config/codebook.yml, `rules` matches its patterns on participant
sentences with spaCy, and `quantities` finds hours, clients, rates and years.
"""
