"""Ingest: raw transcripts in, clean de-identified tables out.

`readers` parses each transcript format into speaker turns, `cleaning` normalises their text,
`deid` replaces names with stable pseudonyms, and `corpus` runs them over a folder and writes
transcripts, turns and sentences tables.
"""
