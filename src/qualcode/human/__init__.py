"""People's coding, and the exchange with other QDA tools.

- `align`: where a quote or a selection made on another text lands in our transcripts.
- `store`: coder names, codes resolved against the codebook, the overlap rule, and the writer of
  human_codings.parquet.
- `csv_import`: coding from a CSV of quotes or offsets (`qualcode import-coding FILE.csv`, the
  coding folders beside the raw folder).
- `refi`: the REFI-QDA format (namespaces, GUIDs, schema) and reading a .qdpx; `refi_import`
  imports its coding; `refi_export` writes our project (.qdpx) and codebook (.qdc).
- `agreement`: agreement between any two coders, per code, with intervals; `metrics`: kappa,
  alpha, precision, recall and F1 from 2x2 tables.
- `export`: `qualcode export` (qdpx, qdc, a CSV of quotes).
"""
