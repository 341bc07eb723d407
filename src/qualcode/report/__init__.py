"""The report: notebooks executed in order, rendered to HTML with an index and a run manifest;
the charts the notebooks draw.
"""
