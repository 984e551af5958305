"""A DICOMweb service (a PACS) as a source beside folder exports.

``auth`` (credentials from the environment or netrc, never from the URL), ``service`` (QIDO-RS,
WADO-RS metadata and retrieval into a local cache folder, STOW-RS) and ``index`` (the service's
series table, the same as the folder index's).
"""
