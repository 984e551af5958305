"""pydicom's warnings in the viewer: logged, never shown as notifications.

pydicom warns about every odd file it is shown (a damaged object the index skips, an invalid
value in a series being loaded). napari turns Python warnings into yellow notifications, but the
index already reports each skipped file with its reason, and the warning says nothing the reader
can act on. pydicom logs each of its warnings to its ``"pydicom"`` logger before it warns
(``pydicom.misc.warn_and_log``), so the warning itself is ignored here and the log keeps it
(napari's log window, or stderr).
"""

from __future__ import annotations

import warnings


def log_pydicom_warnings() -> None:
    """Ignore warnings raised in pydicom's modules (pydicom has logged them); idempotent.

    Process-wide, as Python's warning filters are; the reading room installs it when it opens.
    """
    warnings.filterwarnings("ignore", module="pydicom")
