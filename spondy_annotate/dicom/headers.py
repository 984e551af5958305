"""Reading DICOM headers: one file's :class:`~spondy_annotate.dicom.records.HeaderRecord`.

Only headers are read here (``stop_before_pixels``): indexing a folder never decodes pixels.
The common file is read by the private fast scanner, anything else by pydicom; both give a
mapping of keywords to values that the helpers below read alike. Classic images have one frame;
an Enhanced (multi-frame) image carries its frames' geometry in the functional group sequences,
which are read the same way. A file that is not an image raises :class:`NotAnImage` with a
one-line reason, which the index reports as a skipped file.
"""

from __future__ import annotations

import errno
import io
import math
import os
import stat
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, BinaryIO, TypeAlias, cast

from spondy_annotate.dicom._deflate import RefusedDataSet, dcmread_bounded
from spondy_annotate.dicom._fastscan import CHUNK, scan_header
from spondy_annotate.dicom.records import FrameGeometry, HeaderRecord
from spondy_annotate.errors import one_line

if TYPE_CHECKING:  # pydicom is imported when a file needs it, not for the fast path
    from pydicom.dataset import Dataset

    #: A header: pydicom's dataset, or the fast scanner's ``{keyword: value}`` mapping.
    DatasetLike: TypeAlias = Dataset | Mapping[str, Any]

#: The longest error text quoted in a skip reason (the reason names the file too).
_REASON_CHARS = 160
#: A DICOMDIR (media directory): skipped, its images are indexed directly.
_DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
#: The group of a DICOM file's first element, little or big endian: file meta (0002) or
#: identifying (0008).
_FIRST_GROUPS = frozenset({b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08"})


class NotAnImage(Exception):
    """Raised by :func:`read_header` for a file the index skips; the message is the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(" ".join(str(reason).splitlines()))  # one line, whatever the file holds


_FILE_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
)


def file_kind(mode: int) -> str:
    """Name what kind of non-regular file ``mode`` (``st_mode``) describes."""
    return next((name for test, name in _FILE_KINDS if test(mode)), "an unknown kind of file")


class _BoundedReader(io.BufferedReader):
    """A file whose large reads never ask for more than the bytes left, so that a corrupt
    length field cannot make pydicom or the fast scanner allocate gigabytes."""

    size = 0

    def read(self, size: int | None = -1, /) -> bytes:
        if size is not None and size > 65536:  # small reads go straight through (fast)
            size = min(size, max(self.size - self.tell(), 0))
        return io.BufferedReader.read(self, size)


def open_regular(path: str | os.PathLike[str]) -> tuple[io.BufferedReader, os.stat_result]:
    """Open a regular file for reading, without ever blocking on a FIFO or a device (opened
    non-blocking, and refused after one ``fstat``).

    Raises
    ------
    NotAnImage
        When ``path`` is a FIFO, a socket or a device (``"not a regular file (a FIFO)"``).
    OSError
        When it cannot be opened.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):  # as open() says
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fspath(path))
        if not stat.S_ISREG(st.st_mode):
            raise NotAnImage(f"not a regular file ({file_kind(st.st_mode)})")
        raw = io.FileIO(fd, "r")
        raw.name = path  # what pydicom names the dataset's file after
    except BaseException:
        os.close(fd)
        raise
    fp = _BoundedReader(raw, 2 * CHUNK)  # the first CHUNK bytes, read twice, in one read
    fp.size = st.st_size
    return fp, st


#: What PS3.5 pads values with (spaces; NULs for UI) and what is never part of an index value.
_PADDING = " \t\r\n\x0b\x0c\x00"


def _parts(value: Any) -> list[str]:
    """The values of a (possibly multi-valued) element as text, each without its leading and
    trailing padding: a pydicom value and the fast scanner's text give the same list."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [str(v).strip(_PADDING) for v in value]
    return [v.strip(_PADDING) for v in str(value).split("\\")]


def _text(value: Any) -> str:
    # interned: the same UIDs, dates and names repeat in every file of a series, and an index of
    # 100,000 files holds one copy of each (see benchmarks/index_scaling.py)
    if value.__class__ is str and "\\" not in value:  # one value (the common case): no list
        return sys.intern(value.strip(_PADDING))
    if value is None:
        return ""
    return sys.intern("\\".join(_parts(value)))


def to_float(value: Any) -> float | None:
    """The (first) value as a finite float, or None."""
    if value.__class__ is str and "\\" not in value:  # one value (the common case): no list
        first = value.strip(_PADDING)
    elif value is None:
        return None
    else:
        parts = _parts(value)
        first = parts[0] if parts else ""
    if not first:
        return None
    try:
        f = float(first)
    except ValueError:
        return None
    return f if math.isfinite(f) else None


def to_int(value: Any) -> int | None:
    f = to_float(value)
    return None if f is None else int(f)


def _floats(value: Any, n: int) -> tuple[float, ...] | None:
    try:
        out = tuple(map(float, _parts(value)))
    except ValueError:
        return None
    if len(out) != n or not all(map(math.isfinite, out)):
        return None
    return out


def _position(value: Any) -> tuple[float, float, float] | None:
    """ImagePositionPatient as three finite floats, or None."""
    return cast("tuple[float, float, float] | None", _floats(value, 3))


def _orientation(value: Any) -> tuple[float, float, float, float, float, float] | None:
    """ImageOrientationPatient as six finite floats, or None."""
    return cast("tuple[float, float, float, float, float, float] | None", _floats(value, 6))


def first_item(seq_owner: DatasetLike | None, *path: str) -> DatasetLike | None:
    """Follow nested one-item sequences (``Shared...[0].PixelMeasuresSequence[0]``)."""
    node = seq_owner
    for keyword in path:
        if node is None:
            return None
        seq = node.get(keyword)
        if not seq:
            return None
        node = seq[0]
    return node


def group_attr(
    ds: DatasetLike, frame_group: DatasetLike | None, sequence: str, keyword: str
) -> Any:
    """An attribute of a functional group, per-frame first, then shared."""
    for owner in (frame_group, first_item(ds, "SharedFunctionalGroupsSequence")):
        item = first_item(owner, sequence)
        if item is not None and keyword in item:
            return item.get(keyword)
    return None


def frame_geometries(ds: DatasetLike) -> tuple[FrameGeometry, ...]:
    """Return the geometry of every frame of ``ds`` that has one (classic or Enhanced)."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame:
        frames = []
        for i, group in enumerate(per_frame):
            pos = _position(group_attr(ds, group, "PlanePositionSequence", "ImagePositionPatient"))
            ori = _orientation(
                group_attr(ds, group, "PlaneOrientationSequence", "ImageOrientationPatient")
            )
            if pos is None or ori is None:
                continue
            content = first_item(group, "FrameContentSequence")
            frame_type = group_attr(ds, group, "MRImageFrameTypeSequence", "FrameType")
            keys: tuple[Any, ...] = (
                _text(frame_type),
                _text(content.get("TemporalPositionIndex")) if content else "",
                _text(group_attr(ds, group, "MREchoSequence", "EffectiveEchoTime")),
                _text(content.get("StackID")) if content else "",
                "",
                i,
            )
            frames.append(FrameGeometry(pos, ori, keys, i))
        return tuple(frames)
    pos = _position(ds.get("ImagePositionPatient"))
    ori = _orientation(ds.get("ImageOrientationPatient"))
    assumed = pos is None or ori is None
    if pos is None or ori is None:
        if (to_int(ds.get("NumberOfFrames")) or 1) > 1:
            return ()
        pos, ori = (0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    keys = (
        _text(ds.get("ImageType")),
        _text(ds.get("TemporalPositionIdentifier")),
        _text(ds.get("EchoNumbers")),
        to_int(ds.get("AcquisitionNumber")),
        _text(ds.get("AcquisitionTime")),
        to_int(ds.get("InstanceNumber")),
    )
    return (FrameGeometry(pos, ori, keys, 0, assumed),)


def pixel_spacing_value(ds: DatasetLike) -> Any:
    """PixelSpacing of a classic image, or of an Enhanced one's shared or first frame's group."""
    return ds.get("PixelSpacing") or group_attr(
        ds,
        first_item(ds, "PerFrameFunctionalGroupsSequence"),
        "PixelMeasuresSequence",
        "PixelSpacing",
    )


def _spacing(ds: DatasetLike, enhanced: bool) -> tuple[float, float] | None:
    value = pixel_spacing_value(ds) if enhanced else ds.get("PixelSpacing")
    spacing = _floats(value, 2) if value is not None else None
    return cast("tuple[float, float] | None", spacing)


def _enhanced_or_classic(
    ds: DatasetLike, keyword: str, sequence: str, nested: str, enhanced: bool
) -> Any:
    """The classic attribute, else (``enhanced``: the dataset has functional groups) the
    shared, then the first frame's functional group attribute."""
    value = ds.get(keyword)
    if value is None and enhanced:
        value = group_attr(ds, None, sequence, nested)
        if value is None:
            first = first_item(ds, "PerFrameFunctionalGroupsSequence")
            value = group_attr(ds, first, sequence, nested)
    return value


#: Image storage SOP classes known without asking pydicom's UID dictionary (which would import
#: pydicom on the fast path): MR, Enhanced MR, CT, Enhanced CT, CR, DX, secondary capture.
COMMON_IMAGE_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.4",
        "1.2.840.10008.5.1.4.1.1.4.1",
        "1.2.840.10008.5.1.4.1.1.2",
        "1.2.840.10008.5.1.4.1.1.2.1",
        "1.2.840.10008.5.1.4.1.1.1",
        "1.2.840.10008.5.1.4.1.1.1.1",
        "1.2.840.10008.5.1.4.1.1.7",
    }
)


def _sop_class_name(uid: str) -> str:
    """The SOP class's name from pydicom's UID dictionary, or the UID itself."""
    from pydicom.uid import UID

    return UID(uid).name if uid else "unknown SOP class"


def header_from_dataset(
    ds: DatasetLike, path: str, size: int = 0, mtime_ns: int = 0
) -> HeaderRecord:
    """Build the header record of an image dataset; raise :class:`NotAnImage` otherwise.

    ``ds`` is a pydicom dataset or the fast scanner's keyword mapping.
    """
    get = ds.get
    if not get("SeriesInstanceUID"):
        raise NotAnImage("no SeriesInstanceUID (0020,000E)")
    sop_class = _text(get("SOPClassUID"))
    if sop_class not in COMMON_IMAGE_SOP_CLASSES:
        name = _sop_class_name(sop_class)
        if "Image Storage" not in name and name != sop_class and name != "unknown SOP class":
            raise NotAnImage(f"not an image ({name})")
    rows, columns = get("Rows"), get("Columns")
    if not rows or not columns:
        raise NotAnImage(f"not an image ({_sop_class_name(sop_class)}: no Rows/Columns)")
    meta = getattr(ds, "file_meta", None) or ds
    # Functional groups (an Enhanced image) hold what a classic image has at the top level.
    enhanced = "SharedFunctionalGroupsSequence" in ds or "PerFrameFunctionalGroupsSequence" in ds

    def grouped(keyword: str, sequence: str, nested: str) -> float | None:
        return to_float(_enhanced_or_classic(ds, keyword, sequence, nested, enhanced))

    contrast = get("ContrastBolusAgent")
    if not contrast and enhanced:
        contrast = group_attr(ds, None, "ContrastBolusUsageSequence", "ContrastBolusAgentNumber")
    return HeaderRecord(
        path=path,
        size=size,
        mtime_ns=mtime_ns,
        patient_id=_text(get("PatientID")),
        study_instance_uid=_text(get("StudyInstanceUID")),
        study_date=_text(get("StudyDate")),
        study_time=_text(get("StudyTime")),
        study_description=_text(get("StudyDescription")),
        series_instance_uid=_text(get("SeriesInstanceUID")),
        series_number=to_int(get("SeriesNumber")),
        series_description=_text(get("SeriesDescription")),
        modality=_text(get("Modality")),
        sop_class_uid=sop_class,
        sop_instance_uid=_text(get("SOPInstanceUID")),
        frame_of_reference_uid=_text(get("FrameOfReferenceUID")),
        transfer_syntax=_text(meta.get("TransferSyntaxUID")),
        rows=int(rows),
        columns=int(columns),
        number_of_frames=to_int(get("NumberOfFrames")) or 1,
        pixel_spacing=_spacing(ds, enhanced),
        slice_thickness=grouped("SliceThickness", "PixelMeasuresSequence", "SliceThickness"),
        spacing_between_slices=grouped(
            "SpacingBetweenSlices", "PixelMeasuresSequence", "SpacingBetweenSlices"
        ),
        scanning_sequence=_text(get("ScanningSequence") or get("EchoPulseSequence")),
        sequence_variant=_text(get("SequenceVariant")),
        scan_options=_text(get("ScanOptions")),
        repetition_time=grouped(
            "RepetitionTime", "MRTimingAndRelatedParametersSequence", "RepetitionTime"
        ),
        echo_time=grouped("EchoTime", "MREchoSequence", "EffectiveEchoTime"),
        inversion_time=grouped("InversionTime", "MRModifierSequence", "InversionTimes"),
        contrast_agent=_text(contrast),
        magnetic_field_strength=to_float(get("MagneticFieldStrength")),
        image_type=_text(get("ImageType")),
        instance_number=to_int(get("InstanceNumber")),
        samples_per_pixel=to_int(get("SamplesPerPixel")) or 1,
        photometric_interpretation=_text(get("PhotometricInterpretation")).upper(),
        frames=frame_geometries(ds),
    )


def _junk_reason(fp: BinaryIO, head: bytes, has_marker: bool) -> str | None:
    """Why the file is not DICOM, told from its first bytes (never read whole), or None.

    Every DICOM file's first element (after the ``DICM`` marker, or at the start of a file
    without one) is in the file meta or identifying group, and the data set after the file meta
    information does not begin with zeros (a command element, which pydicom would walk through
    8 bytes at a time).
    """
    first = head[132:134] if has_marker else head[:2]
    if len(first) == 2 and first not in _FIRST_GROUPS:
        if has_marker:
            return "corrupt DICOM: no file meta information after the 'DICM' marker"
        return "not DICOM (no 'DICM' marker, and it does not begin with a DICOM element)"
    if has_marker and head[132:138] == b"\x02\x00\x00\x00UL" and len(head) >= 144:
        start = 144 + int.from_bytes(head[140:144], "little")  # past the group length
        if start + 2 <= len(head):
            first = head[start : start + 2]
        else:
            fp.seek(start)
            first = fp.read(2)
        if first == b"\x00\x00":
            return "corrupt DICOM: zeros where the data set should begin"
    return None


def read_header(path: str | os.PathLike[str]) -> HeaderRecord:
    """Read one file's header; raise :class:`NotAnImage` with a one-line reason to skip it.

    The common file is read by the fast scanner, anything else by pydicom (a Deflated data set
    inflated only up to its pixel data, and at most
    :data:`~spondy_annotate.dicom._deflate.MAX_INFLATED_BYTES`). Files without the ``DICM``
    marker are still tried (old exports omit the preamble) when they begin with a DICOM element,
    but are only accepted when they parse into a dataset with a series UID and an image size.
    """
    path = os.fspath(path)
    try:
        fp, st = open_regular(path)
        with fp:
            head = fp.read(CHUNK)  # from the buffer: the scanner reads it again
            if len(head) == 0:
                raise NotAnImage("empty file (0 bytes)")
            has_marker = len(head) >= 132 and head[128:132] == b"DICM"
            if not has_marker and head[:3] == b"\xff\xd8\xff":
                raise NotAnImage("not DICOM (a JPEG image)")
            junk = _junk_reason(fp, head, has_marker)
            if junk:
                raise NotAnImage(junk)
            fp.seek(0)
            values = scan_header(fp) if has_marker else None
            if values is not None:
                return header_from_dataset(values, path, st.st_size, st.st_mtime_ns)
            fp.seek(0)
            ds, ends_early = dcmread_bounded(
                fp, st.st_size, stop_before_pixels=True, force=not has_marker
            )
    except NotAnImage:
        raise
    except RefusedDataSet as exc:
        raise NotAnImage(str(exc)) from None
    except (OSError, PermissionError) as exc:
        raise NotAnImage(f"unreadable ({exc.strerror or one_line(exc, _REASON_CHARS)})") from None
    except Exception as exc:  # pydicom raises many kinds on corrupt headers
        from pydicom.errors import InvalidDicomError

        if isinstance(exc, InvalidDicomError):
            raise NotAnImage(f"not DICOM ({one_line(exc, _REASON_CHARS)})") from None
        raise NotAnImage(
            f"corrupt or truncated DICOM header ({one_line(exc, _REASON_CHARS)})"
        ) from None
    try:
        return _pydicom_record(ds, path, st, has_marker=has_marker, ends_early=ends_early)
    except NotAnImage:
        raise
    except Exception as exc:  # a value pydicom cannot convert
        raise NotAnImage(f"corrupt DICOM header ({one_line(exc, _REASON_CHARS)})") from None


def _pydicom_record(
    ds: Dataset, path: str, st: os.stat_result, *, has_marker: bool, ends_early: bool
) -> HeaderRecord:
    """The record of a dataset pydicom read; ``ends_early``: no pixel data was reached."""
    if _text(ds.get("SOPClassUID")) == _DICOMDIR_SOP_CLASS or "DirectoryRecordSequence" in ds:
        raise NotAnImage("DICOMDIR (media directory; its images are indexed directly)")
    if not has_marker and not ds.get("SeriesInstanceUID"):
        raise NotAnImage("not DICOM (no 'DICM' marker and no DICOM header)")
    try:
        record = header_from_dataset(ds, path, st.st_size, st.st_mtime_ns)
    except NotAnImage as exc:
        # An image whose header stops short, or no header at all: truncated (or a corrupt
        # length that ran past the end). Objects without pixels (SR, RT plans) end early too.
        if ends_early and (not ds.get("SeriesInstanceUID") or "Image Storage" in str(exc)):
            raise NotAnImage(
                f"truncated DICOM, or a corrupt element length: the file ends after "
                f"{st.st_size} bytes ({exc})"
            ) from None
        raise
    if ends_early:
        raise NotAnImage(
            f"truncated DICOM or no pixel data: the file ends after {st.st_size} bytes, "
            "before any pixel data (7FE0,0010)"
        )
    return record
