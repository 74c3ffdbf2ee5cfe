"""Session recordings: the segment store (filesystem or S3), the segment index, batch ingest.

Layers: ``codec`` and ``batch`` parse what the tracker sends; ``store``/``filesystem``/``s3``
keep blobs; ``index`` keeps the rows; ``ingest`` puts them together (blob before row);
``sweep`` removes blobs no row names.
"""
