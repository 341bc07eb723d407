"""Coding: the codebook and the rule coder that applies it (`qualcode code`).

- `codebook`: config/codebook.yml read and checked (ids, hierarchy, patterns spaCy accepts).
- `matcher`: token patterns grouped by a word they need, so a sentence runs only those it can match.
- `negation`: the negation and hypothetical cues that govern a match.
- `rules`: the codebook's patterns applied to participant sentences, cached per transcript.
- `quantities`: hours per week and per client, clients, rates and years mentioned.
"""
