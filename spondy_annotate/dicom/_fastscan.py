"""A fast scan of the header elements the index needs, for the common kind of file.

pydicom builds a full :class:`~pydicom.dataset.Dataset` and converts every value it is asked
for; for indexing thousands of files that is most of the cost. This scanner reads the file once,
walks the explicit-VR little-endian elements in one loop, keeps the raw bytes of the few
top-level tags in :data:`WANTED` and stops at the pixel data. Anything it is not sure of — no
``DICM`` marker, implicit VR or big endian, Enhanced multi-frame functional groups, a DICOMDIR,
a file that ends before its pixel data, a malformed element, a wanted tag whose VR is not the
dictionary's, non-Latin-1 text — returns None, and the caller uses pydicom. The tests check that
both paths give the same record.
"""

from __future__ import annotations

import struct
from typing import Any, BinaryIO

#: The tags (with their keyword and dictionary VR) read by
#: :func:`~spondy_annotate.dicom.headers.header_from_dataset` for classic images, and those
#: :mod:`spondy_annotate.dicom.volume` needs to read native pixel data without pydicom. A literal
#: table, so that the common case never imports pydicom (a test checks it against pydicom's
#: dictionary).
WANTED = {
    0x00080008: ("ImageType", "CS"),
    0x00080016: ("SOPClassUID", "UI"),
    0x00080018: ("SOPInstanceUID", "UI"),
    0x00080020: ("StudyDate", "DA"),
    0x00080030: ("StudyTime", "TM"),
    0x00080032: ("AcquisitionTime", "TM"),
    0x00080060: ("Modality", "CS"),
    0x00081030: ("StudyDescription", "LO"),
    0x0008103E: ("SeriesDescription", "LO"),
    0x00100020: ("PatientID", "LO"),
    0x00180010: ("ContrastBolusAgent", "LO"),
    0x00180020: ("ScanningSequence", "CS"),
    0x00180021: ("SequenceVariant", "CS"),
    0x00180022: ("ScanOptions", "CS"),
    0x00180050: ("SliceThickness", "DS"),
    0x00180080: ("RepetitionTime", "DS"),
    0x00180081: ("EchoTime", "DS"),
    0x00180082: ("InversionTime", "DS"),
    0x00180087: ("MagneticFieldStrength", "DS"),
    0x00180088: ("SpacingBetweenSlices", "DS"),
    0x00180086: ("EchoNumbers", "IS"),
    0x0020000D: ("StudyInstanceUID", "UI"),
    0x0020000E: ("SeriesInstanceUID", "UI"),
    0x00200011: ("SeriesNumber", "IS"),
    0x00200012: ("AcquisitionNumber", "IS"),
    0x00200013: ("InstanceNumber", "IS"),
    0x00200032: ("ImagePositionPatient", "DS"),
    0x00200037: ("ImageOrientationPatient", "DS"),
    0x00200052: ("FrameOfReferenceUID", "UI"),
    0x00200100: ("TemporalPositionIdentifier", "IS"),
    0x00280008: ("NumberOfFrames", "IS"),
    0x00280010: ("Rows", "US"),
    0x00280011: ("Columns", "US"),
    0x00280030: ("PixelSpacing", "DS"),
    0x00189008: ("EchoPulseSequence", "CS"),
    0x00280002: ("SamplesPerPixel", "US"),
    0x00280004: ("PhotometricInterpretation", "CS"),
    0x00280100: ("BitsAllocated", "US"),
    0x00280101: ("BitsStored", "US"),
    0x00280103: ("PixelRepresentation", "US"),
    0x00281050: ("WindowCenter", "DS"),
    0x00281051: ("WindowWidth", "DS"),
    0x00281052: ("RescaleIntercept", "DS"),
    0x00281053: ("RescaleSlope", "DS"),
}
#: Tags that send a file to pydicom: functional groups (Enhanced MR), DICOMDIR records.
FALLBACK_TAGS = {0x52009229, 0x52009230, 0x00041220}
PIXEL_TAGS = {0x7FE00008, 0x7FE00009, 0x7FE00010}
LONG_VRS = {
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"SQ",
    b"SV",
    b"UC",
    b"UN",
    b"UR",
    b"UT",
    b"UV",
}
#: The other VRs (2-byte length); any VR in neither set is a corrupt element.
SHORT_VRS = {
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO",
    b"LT", b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
}  # fmt: skip
#: Bytes per value of binary VRs: pydicom refuses a file meta element of another length.
BINARY_SIZES = {b"AT": 4, b"FL": 4, b"FD": 8, b"SL": 4, b"SS": 2, b"SV": 8, b"UL": 4, b"US": 2}
#: Transfer syntaxes whose data set is not explicit VR little endian.
BIG_OR_IMPLICIT = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}
UNDEFINED = 0xFFFFFFFF
META_UIDS = {0x00020002: "MediaStorageSOPClassUID", 0x00020010: "TransferSyntaxUID"}
SPECIFIC_CHARACTER_SET = 0x00080005
#: The data set tags the scan acts on besides the wanted ones.
_SPECIAL = FALLBACK_TAGS | PIXEL_TAGS | {SPECIFIC_CHARACTER_SET}
#: Text VRs that pydicom decodes with the Specific Character Set, and the character sets that
#: decode as Latin-1 (as this scanner does); other ones with non-ASCII text go to pydicom.
CHARSET_VRS = {"SH", "LO", "ST", "LT", "UC", "UT", "PN"}
LATIN1_CHARSETS = {None, "ISO_IR 6", "ISO_IR 100"}
#: Per wanted tag: keyword, VR (bytes, as in the file), VR and whether it is a CHARSET_VRS one.
_WANTED_READ = {
    tag: (keyword, vr.encode(), vr, vr in CHARSET_VRS) for tag, (keyword, vr) in WANTED.items()
}
_HEAD = struct.Struct("<HH2s")
#: An element header with a 2-byte length (a long VR's length is the u32 after it).
_ELEMENT = struct.Struct("<HH2sH")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
#: Bytes read at a time: one buffer of the file object (``open_regular``), which holds a
#: typical header whole.
CHUNK = 8192


class _Fallback(Exception):
    """The file needs pydicom."""


class _Reader:
    """The file's bytes from ``base`` on: the slow paths (refills, seeks, undefined-length
    sequences) of :func:`scan_header`, whose loop keeps the same state in local variables."""

    def __init__(self, fp: BinaryIO) -> None:
        self.fp = fp
        self.base = fp.tell()  # file offset of buf[0]
        self.buf = fp.read(CHUNK)
        self.pos = 0

    def need(self, n: int) -> None:
        if self.pos + n > len(self.buf):
            more = self.fp.read(max(CHUNK, self.pos + n - len(self.buf)))
            self.base += self.pos
            self.buf = self.buf[self.pos :] + more
            self.pos = 0
            if n > len(self.buf):
                raise _Fallback

    def element(self) -> tuple[int, bytes, int]:
        self.need(8)
        group, elem, vr = _HEAD.unpack_from(self.buf, self.pos)
        tag = group << 16 | elem
        if group == 0xFFFE:
            (length,) = _U32.unpack_from(self.buf, self.pos + 4)
            self.pos += 8
            return tag, b"", length
        if vr in LONG_VRS:
            self.need(12)
            (length,) = _U32.unpack_from(self.buf, self.pos + 8)
            self.pos += 12
        elif vr in SHORT_VRS:
            (length,) = _U16.unpack_from(self.buf, self.pos + 6)
            self.pos += 8
        else:
            raise _Fallback
        return tag, vr, length

    def value(self, length: int) -> bytes:
        self.need(length)
        out = self.buf[self.pos : self.pos + length]
        self.pos += length
        return out

    def skip(self, length: int) -> None:
        if self.pos + length <= len(self.buf):
            self.pos += length
        else:
            self.fp.seek(self.pos + length - len(self.buf), 1)
            self.base = self.fp.tell()
            self.buf, self.pos = b"", 0

    def skip_undefined_sequence(self) -> None:
        while True:
            tag, _, length = self.element()
            if tag == 0xFFFEE0DD:  # sequence delimiter
                return
            if tag != 0xFFFEE000:
                raise _Fallback
            if length != UNDEFINED:
                self.skip(length)
                continue
            while True:  # an item of undefined length: its elements, then the delimiter
                tag, vr, length = self.element()
                if tag == 0xFFFEE00D:
                    break
                if length == UNDEFINED:
                    self.skip_undefined_sequence()
                else:
                    self.skip(length)


def _convert(raw: bytes, vr: str) -> Any:
    if vr == "US":
        if len(raw) != 2:  # empty, or several values where the index wants one
            raise _Fallback
        return _U16.unpack_from(raw)[0]
    # PS3.5 6.2: leading and trailing spaces (NULs for UI) pad each value, not the element.
    text = raw.decode("latin-1")
    if "\\" not in text:
        return text.strip(" \x00") or None
    return [v.strip(" \x00") for v in text.split("\\")]


def scan_header(fp: BinaryIO) -> dict[str, Any] | None:
    """Scan an open file's header; return ``{keyword: value}`` or None to use pydicom.

    The mapping also holds ``"TransferSyntaxUID"`` and ``"MediaStorageSOPClassUID"`` from the
    file meta information and, for native (not encapsulated) pixel data, ``"PixelDataOffset"``
    and ``"PixelDataLength"`` in bytes. Values are text (split at backslashes when
    multi-valued) or int (US).

    One loop with the reader's state in local variables (``buf``, ``pos``, ``end``): the
    common element, skipped or kept, costs no method call; refills, seeks and sequences of
    undefined length go through the :class:`_Reader`.
    """
    try:
        reader = _Reader(fp)
        reader.need(132)
        if reader.buf[128:132] != b"DICM":
            return None
        buf, pos, end = reader.buf, 132, len(reader.buf)
        out: dict[str, Any] = {}
        charset: str | tuple[str, ...] | None = None
        non_ascii_text = in_data_set = False
        element, u32 = _ELEMENT.unpack_from, _U32.unpack_from
        wanted, long_vrs, short_vrs, special = _WANTED_READ, LONG_VRS, SHORT_VRS, _SPECIAL
        while True:
            if pos + 12 > end:  # a refill (12: the longest element header)
                reader.pos = pos
                reader.need(8)
                buf, pos, end = reader.buf, reader.pos, len(reader.buf)
            group, elem, vr, length = element(buf, pos)
            if group == 0xFFFE:
                return None  # an item or delimiter outside any sequence: pydicom stops there
            tag = group << 16 | elem
            if vr in short_vrs:
                pos += 8
            elif vr in long_vrs:
                if pos + 12 > end:
                    reader.pos = pos
                    reader.need(12)
                    buf, pos, end = reader.buf, reader.pos, len(reader.buf)
                length = u32(buf, pos + 8)[0]
                pos += 12
                if length == UNDEFINED:  # (a 2-byte length never is)
                    if vr != b"SQ" and vr != b"UN" or tag in FALLBACK_TAGS:
                        return None
                    reader.pos = pos
                    reader.skip_undefined_sequence()
                    buf, pos, end = reader.buf, reader.pos, len(reader.buf)
                    continue
            else:
                return None  # a corrupt element
            if not in_data_set and group != 0x0002:
                if "TransferSyntaxUID" not in out:
                    return None
                in_data_set = True
            info = wanted.get(tag)
            if info is not None:  # the common element the index reads
                keyword, wanted_vr, dict_vr, charset_vr = info
                if vr != wanted_vr:  # pydicom would convert it otherwise
                    return None
                if pos + length > end:
                    reader.pos = pos
                    raw = reader.value(length)
                    buf, pos, end = reader.buf, reader.pos, len(reader.buf)
                else:
                    raw = buf[pos : pos + length]
                    pos += length
                if charset_vr:
                    if b"\x1b" in raw:
                        return None  # an ISO 2022 escape sequence: pydicom decodes it
                    non_ascii_text = non_ascii_text or not raw.isascii()
                if dict_vr == "US" or b"\\" in raw:
                    out[keyword] = _convert(raw, dict_vr)
                else:  # one text value (the common element): _convert's result, inline
                    out[keyword] = raw.decode("latin-1").strip(" \x00") or None
                continue
            if group == 0x0002:
                if in_data_set or length % BINARY_SIZES.get(vr, 1):
                    return None  # a meta element after the data set began, or a corrupt one
                if tag in META_UIDS:
                    if vr != b"UI":
                        return None
                    reader.pos = pos
                    key, uid = META_UIDS[tag], _convert(reader.value(length), "UI")
                    buf, pos, end = reader.buf, reader.pos, len(reader.buf)
                    if not isinstance(uid, str):
                        return None  # empty, or several values
                    if key == "TransferSyntaxUID" and uid in BIG_OR_IMPLICIT:
                        return None
                    out[key] = uid
                    continue
            if tag not in special:  # an element the index skips (the other common one)
                if pos + length <= end:
                    pos += length
                else:
                    reader.pos = pos
                    reader.skip(length)
                    buf, pos, end = reader.buf, reader.pos, len(reader.buf)
            elif tag in FALLBACK_TAGS:
                return None
            elif tag in PIXEL_TAGS:
                if non_ascii_text and charset not in LATIN1_CHARSETS:
                    return None
                if tag == 0x7FE00010:
                    out["PixelDataOffset"] = reader.base + pos
                    out["PixelDataLength"] = length
                return out
            else:  # SPECIFIC_CHARACTER_SET
                reader.pos = pos
                charset = _convert(reader.value(length), "CS")
                buf, pos, end = reader.buf, reader.pos, len(reader.buf)
                charset = tuple(charset) if isinstance(charset, list) else charset
    except (_Fallback, struct.error, UnicodeDecodeError, RecursionError):
        return None
