"""Ingest: raw transcripts in, clean de-identified tables out.

- `readers`: each transcript format (text, Markdown, Otter, WebVTT, SubRip, Word, JSON) parsed into
  speaker turns, the text decoded first (encodings, HTML entities, mojibake).
- `cleaning`: a turn's words normalised; annotations, timestamps and disfluencies removed
  and counted.
- `speakers`: who is the participant and who the interviewer.
- `guide`: the interview guide's sections, and the section of each turn.
- `name_rules`: which words are names (allow and deny lists, word frequency, placeholders).
- `deid`: names, emails, phones and URLs replaced by stable pseudonyms; the key.
- `deid_report`: what de-identification replaced, and where to look for a wrong call.
- `corpus`: all of it over a folder, cached per transcript, into the transcripts, turns and
  sentences tables (`qualcode ingest`).
"""
