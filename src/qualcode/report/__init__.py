"""The report (`qualcode report`).

- `render`: the numbered notebooks executed in order and rendered to self-contained HTML, with the
  index page and the single-file study report.
- `manifest`: the run manifest (inputs and their hashes, codebook, parameters, software).
- `plots`: the charts the notebooks draw.
"""
