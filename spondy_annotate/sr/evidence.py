"""The graded images of a case: what an SR references as evidence, and where its study lies.

The store knows a case by its patient ID and its two StudyInstanceUIDs; the images themselves,
their patient module and their frame of reference are read from the export (the headers only).
The graded images are the series the reading room shows side by side: those of the case's
hanging protocol (:attr:`Case.pairs <spondy_annotate.cases.pairing.Case.pairs>`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spondy_annotate.errors import SRError
from spondy_annotate.grading.rubric import Timepoint

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from spondy_annotate.cases.pairing import Case
    from spondy_annotate.dicom.records import SeriesRecord

#: Reads the headers (no pixel data) of a series' images.
HeaderReader = Callable[["SeriesRecord"], Sequence["Dataset"]]


@dataclass(frozen=True)
class StudyImages:
    """The graded images of one timepoint's study.

    Attributes
    ----------
    timepoint : Timepoint
        Baseline or follow-up.
    images : tuple of pydicom.dataset.Dataset
        Their headers (no pixel data), series by series in hanging protocol order.
    """

    timepoint: Timepoint
    images: tuple[Dataset, ...]

    @property
    def study_instance_uid(self) -> str:
        """The study's StudyInstanceUID."""
        return str(self.images[0].StudyInstanceUID)

    @property
    def frame_of_reference_uid(self) -> str:
        """The frame of reference of the measurements: that of the first graded series.

        The reading room shows the series of one study in one patient space, so a line drawn
        on any of them is in this frame when the study's series share it (as series of one
        acquisition session do).
        """
        return str(self.images[0].get("FrameOfReferenceUID", ""))


def read_series_headers(series: SeriesRecord) -> list[Dataset]:
    """The headers of the files of ``series`` (pydicom, stop before the pixel data)."""
    from pydicom import dcmread

    try:
        return [dcmread(path, stop_before_pixels=True) for path in series.files]
    except OSError as exc:
        raise SRError(f"{exc.filename}: cannot read ({exc.strerror})") from None


def case_images(
    case: Case, read: HeaderReader = read_series_headers
) -> dict[Timepoint, StudyImages]:
    """The graded images of ``case``'s baseline and follow-up study.

    Parameters
    ----------
    case : Case
        A ready case (baseline and follow-up chosen).
    read : callable
        Reads a series' headers: :func:`read_series_headers` for a folder export.

    Raises
    ------
    SRError
        If a study has no graded series.
    """
    out: dict[Timepoint, StudyImages] = {}
    for timepoint in Timepoint:
        seen: set[str] = set()
        images: list[Dataset] = []
        for pair in case.pairs:
            series = pair.baseline if timepoint is Timepoint.BASELINE else pair.followup
            if series is None or series.series_instance_uid in seen:
                continue
            seen.add(series.series_instance_uid)
            images.extend(read(series))
        if not images:
            raise SRError(
                f"patient {case.patient_id}: no graded series in the {timepoint.value} study"
            )
        out[timepoint] = StudyImages(timepoint, tuple(images))
    return out
