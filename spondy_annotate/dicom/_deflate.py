"""pydicom's reading of a file, with a Deflated data set inflated as it is read, and bounded.

pydicom inflates a Deflated Explicit VR Little Endian data set whole and without a limit, so a
few megabytes of deflate bomb take gigabytes of memory. :func:`dcmread_bounded` reads the file
meta information itself and hands pydicom the data set through :class:`InflatedStream`, which
inflates only as far as pydicom reads (a header read stops at the pixel data) and never beyond
:data:`MAX_INFLATED_BYTES`. Every other transfer syntax is read by ``pydicom.dcmread`` as it is.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from pydicom.dataset import FileDataset

#: Deflated Explicit VR Little Endian.
DEFLATED = "1.2.840.10008.1.2.1.99"
#: The most bytes a file's deflated data set may inflate to (256 MiB); a file inflating to
#: more is refused as a possible deflate bomb.
MAX_INFLATED_BYTES = 256 * 2**20
#: Compressed bytes read at a time, and the most inflated at a time.
_CHUNK = 1 << 16
_STEP = 1 << 22
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})


class RefusedDataSet(Exception):
    """A data set not to read further: a deflated one that is corrupt or inflates beyond
    :data:`MAX_INFLATED_BYTES`, or one holding command elements (zero-filled junk)."""


class InflatedStream:
    """A read-only, seekable view of a raw deflate stream, inflated on demand.

    Everything inflated so far is kept (pydicom seeks back a little now and then); reading or
    seeking past it inflates more, never beyond ``limit`` bytes.
    """

    def __init__(self, fp: BinaryIO, limit: int = MAX_INFLATED_BYTES) -> None:
        self.name = getattr(fp, "name", None)
        self.limit = limit
        self._fp = fp
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self._data = bytearray()
        self._pos = 0
        self._done = False

    def _fill(self, end: int | None) -> None:
        """Inflate until ``end`` bytes are available (all of them for None) or the stream ends."""
        try:
            while not self._done and (end is None or len(self._data) < end):
                data = self._inflater.unconsumed_tail or self._fp.read(_CHUNK)
                if not data:  # the file ends (a truncated stream ends here too)
                    self._data += self._inflater.flush()
                    self._done = True
                    break
                room = self.limit + 1 - len(self._data)
                self._data += self._inflater.decompress(data, min(_STEP, room))
                self._done = self._inflater.eof
                if len(self._data) > self.limit:
                    raise RefusedDataSet(
                        f"the deflated data set inflates to more than {self.limit:,} bytes, "
                        "the limit per file (a deflate bomb?)"
                    )
        except zlib.error as exc:
            raise RefusedDataSet(f"corrupt deflated data set ({exc})") from None

    def read(self, size: int | None = -1, /) -> bytes:
        end = None if size is None or size < 0 else self._pos + size
        self._fill(end)
        out = bytes(self._data[self._pos : end])
        self._pos += len(out)
        return out

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        if whence == os.SEEK_END:
            self._fill(None)
            offset += len(self._data)
        elif whence == os.SEEK_CUR:
            offset += self._pos
        self._pos = max(offset, 0)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def at_end(self) -> bool:
        """True when the whole data set was inflated and read."""
        self._fill(self._pos + 1)
        return self._pos >= len(self._data)


def _not_meta(tag: int, vr: Any, length: int) -> bool:
    return tag >> 16 != 2


def _stop_when(stop_before_pixels: bool) -> Callable[[int, Any, int], bool]:
    """pydicom's ``stop_when`` for a data set's top-level elements: stop at the pixel data when
    asked, and refuse a command element (0000,xxxx), which no stored data set holds: zeros read
    as elements, 8 bytes each, which pydicom would otherwise walk to the end of the file."""

    def stop(tag: int, vr: Any, length: int) -> bool:
        if tag >> 16 == 0:
            raise RefusedDataSet(
                f"corrupt DICOM: a command element ({tag >> 16:04X},{tag & 0xFFFF:04X}) in the data set (zero-filled?)"
            )
        return stop_before_pixels and tag in _PIXEL_TAGS

    return stop


def dcmread_bounded(
    fp: BinaryIO, size: int, *, stop_before_pixels: bool = False, force: bool = False
) -> tuple[FileDataset, bool]:
    """Read ``fp`` (a file of ``size`` bytes) as ``pydicom.dcmread`` does, inflating boundedly.

    Returns
    -------
    tuple
        The dataset, and whether the data set was read to its very end (with
        ``stop_before_pixels``: no pixel data was found before the end).

    Raises
    ------
    RefusedDataSet
        When a deflated data set is corrupt or inflates beyond :data:`MAX_INFLATED_BYTES`.
    Exception
        Whatever pydicom raises on a file it cannot read.
    """
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.filereader import read_dataset, read_partial, read_preamble

    start = fp.tell()
    try:
        preamble = read_preamble(fp, force)
        meta = read_dataset(fp, is_implicit_VR=False, is_little_endian=True, stop_when=_not_meta)
        deflated = meta.get("TransferSyntaxUID") == DEFLATED
    except Exception:  # pydicom's own read below says what is wrong
        deflated = False
    stop_when = _stop_when(stop_before_pixels)
    if not deflated:
        fp.seek(start)
        ds = read_partial(fp, stop_when, force=force)
        return ds, fp.tell() >= size
    stream = InflatedStream(fp)
    dataset = read_dataset(stream, is_implicit_VR=False, is_little_endian=True, stop_when=stop_when)  # type: ignore[arg-type]
    name = getattr(fp, "name", "")
    ds = FileDataset(name, dataset, preamble, FileMetaDataset(meta), False, True)
    return ds, stream.at_end()
