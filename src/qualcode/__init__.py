"""qualcode: reproducible qualitative coding of interview transcripts."""

__version__ = "0.1.0"
