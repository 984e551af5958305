"""One reader's grading of one case as a DICOM Comprehensive 3D SR (TID 1500 measurement report).

The document, built with highdicom:

* the patient and study modules of the follow-up images: the SR belongs to the follow-up study
  (it judges that MRI against the baseline) and carries the patient's identity — a clinical
  result for the PACS, unlike the de-identified research exports;
* observer context: the reader as a person (name, and the exact reader name as login name);
  procedure reported: MRI; the rubric declared in the Coding Scheme Identification Sequence
  (:mod:`~spondy_annotate.sr.codes`);
* an image library (TID 1600) with one group per study, each with its Study Date, listing the
  graded images (also referenced as evidence: the follow-up's in the Current Requested
  Procedure Evidence, the baseline's in the Pertinent Other Evidence);
* one measurement group (TID 1501) per timepoint, with its time point context (baseline,
  post-treatment), a tracking identifier per level (the same in both groups), the disc level as
  finding site, the timepoint's grades as qualitative evaluations, and each length (disc
  height, mm) as a measurement with its 3D polyline in the study's frame of reference; the
  follow-up group also holds what compares the two studies: the change judgements, the
  reader's confidence and note. Each group lists its study's images as its source images.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import highdicom as hd
import numpy as np
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from spondy_annotate._version import __version__
from spondy_annotate.grading.rubric import FieldKind, Measurement, Timepoint
from spondy_annotate.sr.codes import (
    NOTE,
    PROCEDURE,
    TIMEPOINT_TYPES,
    RubricCodes,
    SRError,
    level_code,
    scheme_identification,
)

if TYPE_CHECKING:
    from spondy_annotate.grading.rubric import AnswerValue, Field, Rubric
    from spondy_annotate.sr.evidence import StudyImages

#: Series number of the SRs written (one series per reader and follow-up study).
SERIES_NUMBER = 9501
#: UTF-8: grade labels and notes may hold any character.
CHARACTER_SET = "ISO_IR 192"


@dataclass(frozen=True)
class CaseGrading:
    """One reader's current answers to one case, with what identifies the case.

    Attributes
    ----------
    patient_id, baseline_study_uid, followup_study_uid : str
        The case, as the store registers it.
    baseline_date, followup_date : datetime.date or None
        The study dates.
    reader : str
        Who graded.
    rubric : Rubric
        The rubric of the answers.
    values : mapping
        ``{field key: value}`` of the answered fields (no ``None``).
    """

    patient_id: str
    baseline_study_uid: str
    baseline_date: dt.date | None
    followup_study_uid: str
    followup_date: dt.date | None
    reader: str
    rubric: Rubric
    values: Mapping[str, AnswerValue]

    def study_uid(self, timepoint: Timepoint) -> str:
        """The StudyInstanceUID of ``timepoint``."""
        if timepoint is Timepoint.BASELINE:
            return self.baseline_study_uid
        return self.followup_study_uid


def _tracking(grading: CaseGrading, level: str | None) -> hd.sr.TrackingIdentifier:
    """The level's tracking identifier: the same UID in both timepoints' groups."""
    uid = generate_uid(
        entropy_srcs=[
            "spondy_annotate tracking",
            grading.patient_id,
            grading.baseline_study_uid,
            grading.followup_study_uid,
            level or "",
        ]
    )
    return hd.sr.TrackingIdentifier(uid=uid, identifier=f"disc {level or '(level not given)'}")


def _measurement(
    codes_: RubricCodes, field: Field, value: Measurement, frame_of_reference_uid: str
) -> hd.sr.Measurement:
    unit = (
        codes.UCUM.Millimeter
        if field.unit in (None, "mm")
        else Code(field.unit, "UCUM", field.unit)
    )
    coordinates = None
    if value.start is not None and value.end is not None:
        if not frame_of_reference_uid:
            raise SRError(f"{field.key}: the measured images have no FrameOfReferenceUID")
        coordinates = [
            hd.sr.CoordinatesForMeasurement3D(
                graphic_type=hd.sr.GraphicTypeValues3D.POLYLINE,
                graphic_data=np.array([value.start, value.end], dtype=float),
                frame_of_reference_uid=frame_of_reference_uid,
            )
        ]
    return hd.sr.Measurement(
        name=codes_.concept(field),
        value=value.mm,
        unit=unit,
        referenced_coordinates=coordinates,
    )


def _group(
    grading: CaseGrading, timepoint: Timepoint, study: StudyImages
) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    """The measurement group of ``timepoint`` (see the module docstring)."""
    codes_ = RubricCodes(grading.rubric)
    level = grading.values.get("level")
    level = level if isinstance(level, str) else None
    evaluations: list[hd.sr.QualitativeEvaluation] = []
    measurements: list[hd.sr.Measurement] = []
    note: str | None = None
    for field in grading.rubric.fields:
        value = grading.values.get(field.key)
        if value is None:
            continue
        compares = field.kind in (FieldKind.CHANGE, FieldKind.CONFIDENCE, FieldKind.NOTE)
        if field.timepoint is not timepoint and not (compares and timepoint is Timepoint.FOLLOWUP):
            continue
        if field.kind is FieldKind.MEASUREMENT and isinstance(value, Measurement):
            measurements.append(_measurement(codes_, field, value, study.frame_of_reference_uid))
        elif field.kind is FieldKind.NOTE and isinstance(value, str):
            note = value
        elif isinstance(value, (int, str)) and field.kind is not FieldKind.LEVEL:
            evaluations.append(
                hd.sr.QualitativeEvaluation(codes_.concept(field), codes_.value(field, value))
            )
    order = list(Timepoint).index(timepoint) + 1
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking(grading, level),
        time_point_context=hd.sr.TimePointContext(
            time_point=timepoint.value,
            time_point_type=TIMEPOINT_TYPES[timepoint],
            time_point_order=order,
        ),
        finding_sites=[hd.sr.FindingSite(level_code(level))] if level else None,
        measurements=measurements or None,
        qualitative_evaluations=evaluations or None,
        source_images=[
            hd.sr.SourceImageForMeasurementGroup.from_source_image(image) for image in study.images
        ],
    )
    if note is not None:
        group[0].ContentSequence.append(
            hd.sr.TextContentItem(
                name=NOTE, value=note, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
            )
        )
    return group


def _image_library(studies: Mapping[Timepoint, StudyImages]) -> hd.sr.ContainerContentItem:
    """TID 1600: one group per study, with its Study Date, listing the graded images."""
    library = hd.sr.ContainerContentItem(
        name=codes.DCM.ImageLibrary, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
    )
    library.ContentSequence = hd.sr.ContentSequence()
    for study in studies.values():
        group = hd.sr.ContainerContentItem(
            name=codes.DCM.ImageLibraryGroup,
            relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
        )
        group.ContentSequence = hd.sr.ContentSequence()
        date = study.images[0].get("StudyDate")
        if date:
            group.ContentSequence.append(
                hd.sr.DateContentItem(
                    name=codes.DCM.StudyDate,
                    value=str(date),
                    relationship_type=hd.sr.RelationshipTypeValues.HAS_ACQ_CONTEXT,
                )
            )
        for image in study.images:
            item = hd.sr.ImageContentItem(
                name=codes.SCT.Source,
                referenced_sop_class_uid=image.SOPClassUID,
                referenced_sop_instance_uid=image.SOPInstanceUID,
                relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
            )
            item.ContentSequence = hd.sr.ContentSequence(hd.sr.ImageLibraryEntryDescriptors(image))
            group.ContentSequence.append(item)
        library.ContentSequence.append(group)
    return library


def build_report(
    grading: CaseGrading, studies: Mapping[Timepoint, StudyImages], *, instance_key: str = ""
) -> hd.sr.Comprehensive3DSR:
    """The SR of ``grading`` referencing the graded ``studies``.

    Parameters
    ----------
    grading : CaseGrading
        The answers; they must include at least one value.
    studies : mapping
        The graded images of each timepoint (:func:`~spondy_annotate.sr.evidence.case_images`).
    instance_key : str
        Makes the SOP Instance UID: the same key gives the same UID (a re-export of unchanged
        answers replaces the SR in a PACS rather than adding one); default: a new UID.

    Raises
    ------
    SRError
        If the studies are not the case's, or a measured line has no frame of reference.
    """
    for timepoint, study in studies.items():
        if study.study_instance_uid != grading.study_uid(timepoint):
            raise SRError(
                f"the {timepoint.value} images are of study {study.study_instance_uid}, "
                f"not of the graded {grading.study_uid(timepoint)}"
            )
    name = grading.reader if "^" in grading.reader else f"{grading.reader}^"
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
            name=name, login_name=grading.reader
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=observer),
        procedure_reported=PROCEDURE,
        imaging_measurements=[_group(grading, tp, studies[tp]) for tp in Timepoint],
    )
    content = report[0].ContentSequence
    content.insert(len(content) - 1, _image_library(studies))
    followup = studies[Timepoint.FOLLOWUP].images
    evidence = [*followup, *studies[Timepoint.BASELINE].images]
    series_uid = generate_uid(
        entropy_srcs=["spondy_annotate SR series", grading.followup_study_uid, grading.reader]
    )
    sop_uid = generate_uid(entropy_srcs=[instance_key]) if instance_key else generate_uid()
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report[0],
        series_instance_uid=series_uid,
        series_number=SERIES_NUMBER,
        sop_instance_uid=sop_uid,
        instance_number=1,
        manufacturer="spondy_annotate",
        is_complete=grading.rubric.is_complete(grading.values),
        specific_character_set=CHARACTER_SET,
        series_description=f"Gradings {grading.rubric.name} ({grading.reader})",
        software_versions=__version__,
    )
    sr.CodingSchemeIdentificationSequence = [scheme_identification(grading.rubric)]
    return sr
