"""People's coding, and the exchange with other QDA tools.

- `align`: where a quote or a selection made on another text lands in our transcripts.
- `store`: coder names, codes resolved against the codebook, the overlap rule, and the writer of
  human_codings.parquet.
- `csv_import`: coding from a CSV of quotes or offsets (`qualcode import-coding FILE.csv`, the
  coding folders beside the raw folder).
- `refi`: REFI-QDA projects (.qdpx) and codebooks (.qdc) read and written.
- `agreement`: agreement between any two coders, per code, with intervals.
- `export`: `qualcode export` (qdpx, qdc, a CSV of quotes).
"""
