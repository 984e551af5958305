"""Errors raised by spondy_annotate.

Every error carries a one-line message that names the file (and the line or tag) it is about,
so that the command line and the viewer can show it as it is, without a traceback.
"""

from __future__ import annotations


class SpondyError(Exception):
    """Base class of every error spondy_annotate raises on purpose."""


class DicomIndexError(SpondyError):
    """A folder could not be indexed (missing, empty, or holding no DICOM)."""


class SeriesLoadError(SpondyError):
    """A series could not be loaded into a volume (unreadable pixels, missing decoder)."""


class SeriesGeometryError(SeriesLoadError):
    """A series' slices do not form one regular volume (duplicates, gaps, mixed orientations)."""


class CaseSelectionError(SpondyError):
    """Baseline/follow-up studies could not be chosen as asked."""


class ConfigError(SpondyError):
    """A configuration file (matching rules, rubric) is invalid."""


class RubricError(ConfigError):
    """A rubric file is invalid."""


class StoreError(SpondyError):
    """The grading database is unusable (corrupt, from a newer version, locked too long)."""


class LabFileError(SpondyError):
    """A lab file could not be read at all (as opposed to bad rows, which are reported)."""


class ExportError(SpondyError):
    """A gradings table could not be written or read (unknown format, unwritable folder)."""


class DicomWebError(SpondyError):
    """A DICOMweb service cannot be used: a bad URL, refused credentials, a failed request."""


class SRError(SpondyError):
    """An SR uses a code the rubric does not know, or names no usable rubric."""


def one_line(exc: BaseException, limit: int = 200) -> str:
    """The message of ``exc`` on one line, at most ``limit`` characters (its type when empty)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
