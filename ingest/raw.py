"""The embedded preview of a camera RAW file, and the file's stored size.

A RAW file is never demosaiced here: every camera puts a JPEG preview of the
picture into the file, and that is what the archive shows and hashes. rawpy
(LibRaw) is asked first. When it is missing or gives up, which it does for
cameras newer than its tables, the file's own structure is read: the IFDs of
the TIFF-based RAWs (NEF, CR2, ARW, DNG, ORF), with the Nikon and Olympus
maker notes that hold previews, and Fujifilm's RAF header, and Canon CR3's
boxes (ISO-BMFF), which also hold its EXIF as TIFFs (cr3_exif_tiffs, read by
metadata).

Files come from photographers' cards and copies, so every offset is checked
against the file's length, a directory is visited once (an IFD pointing back
at itself ends the walk), and at most MAX_IFDS are read. The only exception
that leaves this module is PhotoError, with a line a person can act on.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from PIL import Image

from .errors import PhotoError
from .metadata import CR3_BRAND, Box, boxes, child

# The reasons recorded in ingest_errors, each saying what to do about it.
EMPTY = "empty file (0 bytes): the copy probably failed, deliver it again"
NOT_RAW = ("not a RAW file we can read: it has no TIFF or Fujifilm RAF header "
           "(the contents do not match the suffix)")
RAWPY_ONLY = ("RAW file in a format only rawpy reads, and rawpy cannot read this one "
              "(update rawpy, or deliver a JPEG export)")
NO_PREVIEW = "RAW file has no embedded preview we can read (deliver a JPEG export)"
TRUNCATED = ("RAW file is truncated: it ends before its embedded preview does "
             "(the copy probably failed, deliver it again)")
PAST_END = "RAW file is damaged or truncated: it points past its own end (deliver it again)"
LOOP = ("RAW file is damaged: its directories run in a loop and hold no preview "
        "(deliver it again, or a JPEG export)")

MAX_IFDS = 64          # real RAWs have fewer than 20; more means a damaged or hostile chain
MAX_ENTRIES = 1000     # per IFD; a damaged count must not make us read megabytes of entries
MAX_VALUES = 4096      # strip or tile offsets worth reading for one preview
MAX_SEGMENTS = 256     # JPEG marker segments read while looking for the frame header

TIFF_MAGIC = (b"II*\0", b"MM\0*", b"IIRO", b"IIRS", b"MMOR")  # the last three: Olympus ORF
RAF_MAGIC = b"FUJIFILMCCD-RAW "
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
# Frame types Pillow decodes. SOF3 (lossless) is how CR2 and DNG store raw sensor data, not a picture.
PICTURE_FRAMES = {0xC0, 0xC1, 0xC2}
ALL_FRAMES = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
STANDALONE_MARKERS = {0x01, *range(0xD0, 0xD8)}  # no length field follows these
RAW_PHOTOMETRIC = {32803, 34892}  # CFA and LinearRaw: sensor data, even when JPEG-compressed

Size = tuple[int, int]


def open_preview(data: bytes) -> tuple[Image.Image, Size]:
    """The largest embedded preview, opened but not decoded (so draft mode works), and the stored size.

    The stored size is the raw image's (sensor pixels as stored, margins
    included); the preview's own size when the file does not tell it.
    """
    if not data:
        raise PhotoError(EMPTY)
    found = rawpy_preview(data)
    return found if found is not None else parsed_preview(data)


# --- rawpy ------------------------------------------------------------------

def rawpy_preview(data: bytes) -> tuple[Image.Image, Size] | None:
    """LibRaw's choice of thumbnail (it takes the largest); None when rawpy cannot help.

    To a JPEG that does not start with an EXIF segment LibRaw adds one of its
    own (Software "dcraw v9.x") from what it read of the RAW. metadata reads
    the RAW's own bytes first (a CR3's CMT boxes), so that block only counts
    where exifread finds no EXIF in the file.
    """
    try:
        import rawpy  # imported here: libraw is only needed for RAW files, and optional
    except ImportError:
        return None
    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            size = (raw.sizes.raw_width, raw.sizes.raw_height)
            thumb = raw.extract_thumb()
    except (rawpy.LibRawError, rawpy.NotSupportedError, OSError, ValueError, MemoryError):
        return None  # unsupported camera, no thumbnail, damaged: our own reader has a go
    if thumb.format == rawpy.ThumbFormat.JPEG:
        # LibRaw hands over a preview cut off by the file's end as it is; our reader reports it.
        image = open_jpeg(thumb.data) if ends_whole(thumb.data) else None
    else:
        image = Image.fromarray(thumb.data)  # an uncompressed RGB thumbnail, already decoded
    if image is None:
        return None
    return image, size if size[0] > 0 and size[1] > 0 else image.size


def ends_whole(jpeg: bytes) -> bool:
    """Whether the JPEG ends with its end-of-image marker (cameras may pad after it)."""
    return jpeg.rstrip(b"\0\xff").endswith(b"\xff\xd9")


def open_jpeg(jpeg: bytes) -> Image.Image | None:
    """Pillow's lazy open of an embedded JPEG; None when it is not one Pillow reads."""
    try:
        return Image.open(io.BytesIO(jpeg), formats=["JPEG"])
    except Image.DecompressionBombError as e:
        raise PhotoError(f"refused: the embedded preview is too large to decode safely ({e})") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        return None


# --- the file's own structure --------------------------------------------------

def parsed_preview(data: bytes) -> tuple[Image.Image, Size]:
    if data.startswith(RAF_MAGIC):
        return raf_preview(data)
    if data[:4] in TIFF_MAGIC:
        return tiff_preview(data)
    if data[4:12] == CR3_BRAND:
        return cr3_preview(data)
    if data[4:8] == b"ftyp":  # another ISO-BMFF brand (a CRM movie, a HEIF by another name)
        raise PhotoError(RAWPY_ONLY)
    raise PhotoError(NOT_RAW)


@dataclass(frozen=True)
class Ifd:
    """One image file directory: tag -> (type, count, where its value is in the file)."""

    entries: dict[int, tuple[int, int, int]]
    order: str   # "<" or ">"
    base: int    # where the offsets in it count from (0, or a maker note's start)
    role: str    # "tiff", "exif", "nikon", "olympus", "nikon-preview", "olympus-settings"


@dataclass
class Walk:
    """Every IFD reached from the header, and what went wrong on the way."""

    ifds: list[Ifd] = field(default_factory=list)
    looped: bool = False
    past_end: bool = False


@dataclass(frozen=True)
class Jpeg:
    start: int
    end: int           # may lie past the end of the file: then it was cut off
    size: Size | None  # None when its header is past the end too


def tiff_preview(data: bytes) -> tuple[Image.Image, Size]:
    order = "<" if data[:2] == b"II" else ">"
    walk = walk_ifds(data, (unpack(data, order + "I", 4), order, 0, "tiff"))
    jpegs = [jpeg for ifd in walk.ifds for jpeg in ifd_jpegs(data, ifd)]
    image, preview_size = choose(data, jpegs, walk)
    return image, raw_size(data, walk.ifds) or preview_size


def choose(data: bytes, jpegs: list[Jpeg], walk: Walk) -> tuple[Image.Image, Size]:
    """The largest complete preview that Pillow opens.

    A file that ends inside its preview, or whose preview lies past its end,
    is an incomplete copy: that is reported rather than quietly falling back
    to a smaller preview, so the photographer is asked for the file again. A
    directory past the end only explains why no preview was found: cameras
    leave stray next-IFD pointers, and previews sit before the raw data.
    """
    complete = sorted((j for j in jpegs if j.end <= len(data) and j.size),
                      key=lambda j: pixels(j.size), reverse=True)
    best = pixels(complete[0].size) if complete else 0
    cut = [j for j in jpegs if j.start < len(data) < j.end]
    if any(j.size is None or pixels(j.size) > best for j in cut):
        raise PhotoError(TRUNCATED)
    if any(j.start >= len(data) for j in jpegs):
        raise PhotoError(PAST_END)
    for jpeg in complete:
        image = open_jpeg(data[jpeg.start : jpeg.end])
        if image is not None:
            return image, jpeg.size
    raise PhotoError(PAST_END if walk.past_end else LOOP if walk.looped else NO_PREVIEW)


def pixels(size: Size | None) -> int:
    return size[0] * size[1] if size else 0


# --- reading IFDs ------------------------------------------------------------------

Visit = tuple[int, str, int, str]  # where the IFD is, byte order, base, role


def unpack(data: bytes, fmt: str, at: int) -> int:
    """One number at `at`; -1 when the file ends before it (never a real offset)."""
    if at < 0 or at + struct.calcsize(fmt) > len(data):
        return -1
    return struct.unpack_from(fmt, data, at)[0]


def walk_ifds(data: bytes, first: Visit) -> Walk:
    """Breadth-first over the IFD chain, SubIFDs, the Exif IFD and known maker notes."""
    walk, queue, seen = Walk(), [first], set()
    while queue:
        at, order, base, role = queue.pop(0)
        if at in seen or len(seen) >= MAX_IFDS:
            walk.looped = True
            continue
        seen.add(at)
        read = read_ifd(data, at, order, base, role)
        if read is None:
            walk.past_end = walk.past_end or role == "tiff"  # notes are best effort
            continue
        ifd, next_at = read
        walk.ifds.append(ifd)
        queue.extend(children(data, ifd, next_at))
    return walk


def read_ifd(data: bytes, at: int, order: str, base: int, role: str) -> tuple[Ifd, int] | None:
    """The entries of the IFD at `at` and the offset of the next one (0: none)."""
    count = unpack(data, order + "H", at)
    if count < 0 or at + 2 + 12 * min(count, MAX_ENTRIES) + 4 > len(data):
        return None
    entries = {}
    for index in range(min(count, MAX_ENTRIES)):
        entry = at + 2 + 12 * index
        tag, kind, number = struct.unpack_from(order + "HHI", data, entry)
        size = TYPE_SIZES.get(kind, 0) * number
        # Values of up to 4 bytes sit in the entry itself; longer ones at an offset from the base.
        where = entry + 8 if size <= 4 else base + unpack(data, order + "I", entry + 8)
        entries[tag] = (kind, number, where)
    next_at = unpack(data, order + "I", at + 2 + 12 * min(count, MAX_ENTRIES))
    return Ifd(entries, order, base, role), next_at


def values(data: bytes, ifd: Ifd, tag: int) -> list[int]:
    """A tag's SHORT/LONG/IFD values; [] when absent, of another type, or past the file's end."""
    kind, number, where = ifd.entries.get(tag, (0, 0, 0))
    code = {3: "H", 4: "I", 13: "I"}.get(kind)
    if code is None or not 0 < number <= MAX_VALUES:
        return []
    if where < 0 or where + TYPE_SIZES[kind] * number > len(data):
        return []
    return list(struct.unpack_from(f"{ifd.order}{number}{code}", data, where))


def first(data: bytes, ifd: Ifd, tag: int) -> int | None:
    found = values(data, ifd, tag)
    return found[0] if found else None


def children(data: bytes, ifd: Ifd, next_at: int) -> Iterator[Visit]:
    """The IFDs this one leads to, by its role: only the pointers that role is known to hold."""
    order, base = ifd.order, ifd.base
    if ifd.role == "tiff":
        if next_at > 0:
            yield base + next_at, order, base, "tiff"
        for pointer in values(data, ifd, 330):  # SubIFDs: the raw and the big previews
            yield base + pointer, order, base, "tiff"
        for pointer in values(data, ifd, 0x8769)[:1]:  # the Exif IFD, for the maker note
            yield base + pointer, order, base, "exif"
    elif ifd.role == "exif":
        yield from maker_note(data, ifd)
    elif ifd.role == "nikon":
        for pointer in values(data, ifd, 0x0011)[:1]:  # PreviewIFD
            yield base + pointer, order, base, "nikon-preview"
    elif ifd.role == "olympus":
        # CameraSettings: a sub-IFD pointer, or an UNDEFINED block that is the sub-IFD.
        kind, _, where = ifd.entries.get(0x2020, (0, 0, 0))
        pointer = first(data, ifd, 0x2020)
        if kind == 7 or pointer is not None:
            yield where if kind == 7 else base + pointer, order, base, "olympus-settings"


def maker_note(data: bytes, exif: Ifd) -> Iterator[Visit]:
    """Maker notes that are simple TIFF structures holding a preview: Nikon type 3, Olympus, OM."""
    kind, number, at = exif.entries.get(0x927C, (0, 0, 0))
    if kind not in (1, 7) or at < 0 or at + min(number, 16) > len(data):
        return
    head = data[at : at + 16]
    if head.startswith(b"Nikon\0\x02") and head[10:12] in (b"II", b"MM"):
        order = "<" if head[10:12] == b"II" else ">"
        ifd = unpack(data, order + "I", at + 14)
        if ifd >= 0:
            yield at + 10 + ifd, order, at + 10, "nikon"
    elif head.startswith(b"OLYMPUS\0") and head[8:10] in (b"II", b"MM"):
        yield at + 12, "<" if head[8:10] == b"II" else ">", at, "olympus"
    elif head.startswith(b"OM SYSTEM\0") and head[12:14] in (b"II", b"MM"):
        yield at + 16, "<" if head[12:14] == b"II" else ">", at, "olympus"


# --- the JPEGs in an IFD ------------------------------------------------------------

def ifd_jpegs(data: bytes, ifd: Ifd) -> list[Jpeg]:
    """The JPEG previews an IFD points to, with their frame size where it can be read."""
    found: list[Jpeg | None] = []
    if ifd.role in ("tiff", "nikon-preview"):  # JPEGInterchangeFormat / Length
        found += [candidate(data, span, None) for span in pointer_pair(data, ifd, 0x201, 0x202)]
    if ifd.role == "olympus-settings":  # PreviewImageStart / Length
        found += [candidate(data, span, None) for span in pointer_pair(data, ifd, 0x101, 0x102)]
    compressed = first(data, ifd, 259) in (6, 7)  # old- and new-style JPEG
    if ifd.role == "tiff" and compressed and first(data, ifd, 262) not in RAW_PHOTOMETRIC:
        # A JPEG strip must be the IFD's whole image: one strip of several is not a preview.
        stated = (first(data, ifd, 256) or 0, first(data, ifd, 257) or 0)
        found += [candidate(data, span, stated if all(stated) else None)
                  for span in strip_jpeg(data, ifd)]
    return [jpeg for jpeg in found if jpeg is not None]


def candidate(data: bytes, span: tuple[int, int], stated: Size | None) -> Jpeg | None:
    """A JPEG picture at span; kept without a size when its header is cut off (evidence of that)."""
    start, end = span
    frame = jpeg_frame(data, start, end)
    if frame is None:
        return Jpeg(start, end, None) if end > len(data) else None
    marker, size, _ = frame
    if marker not in PICTURE_FRAMES or 0 in size or (stated and size != stated):
        return None  # lossless raw data, an empty frame, or a part of the image only
    return Jpeg(start, end, size)


def pointer_pair(data: bytes, ifd: Ifd, offset_tag: int, length_tag: int) -> list[tuple[int, int]]:
    offset, length = first(data, ifd, offset_tag), first(data, ifd, length_tag)
    if offset is None or not length:
        return []
    return [(ifd.base + offset, ifd.base + offset + length)]


def strip_jpeg(data: bytes, ifd: Ifd) -> list[tuple[int, int]]:
    """Strips (or tiles) that together are one contiguous JPEG, as in CR2's IFD0 and DNG previews."""
    offsets = values(data, ifd, 273) or values(data, ifd, 324)
    counts = values(data, ifd, 279) or values(data, ifd, 325)
    if not offsets or len(offsets) != len(counts):
        return []
    if any(offsets[i] + counts[i] != offsets[i + 1] for i in range(len(offsets) - 1)):
        return []
    return [(ifd.base + offsets[0], ifd.base + offsets[0] + sum(counts))]


def jpeg_frame(data: bytes, start: int, end: int) -> tuple[int, Size, int] | None:
    """The frame header of the JPEG at start: (SOF marker, (width, height), components)."""
    end = min(end, len(data))
    if start < 0 or data[start : start + 2] != b"\xff\xd8":
        return None
    at = start + 2
    for _ in range(MAX_SEGMENTS):
        if at + 4 > end or data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker in STANDALONE_MARKERS:
            at += 2
            continue
        if marker in ALL_FRAMES:
            if at + 10 > end:
                return None
            height, width, components = struct.unpack_from(">HHB", data, at + 5)
            return marker, (width, height), components
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame
            return None
        at += 2 + struct.unpack_from(">H", data, at + 2)[0]
    return None


# --- the stored size ------------------------------------------------------------------

def raw_size(data: bytes, ifds: list[Ifd]) -> Size | None:
    """The raw image's size: the largest full-resolution IFD that is not a JPEG preview.

    CR2 states no size for its raw IFD; its lossless JPEG frame does, in
    samples of several components side by side.
    """
    sizes = []
    for ifd in ifds:
        # NewSubfileType 0 (or absent): the full-resolution image, not a thumbnail or a mask.
        if ifd.role != "tiff" or first(data, ifd, 254) or ifd_jpegs(data, ifd):
            continue
        width, height = first(data, ifd, 256), first(data, ifd, 257)
        if width and height:
            sizes.append((width, height))
        elif first(data, ifd, 259) in (6, 7):
            sizes += lossless_size(data, ifd)
    return max(sizes, key=pixels, default=None)


def lossless_size(data: bytes, ifd: Ifd) -> list[Size]:
    offsets, counts = values(data, ifd, 273), values(data, ifd, 279)
    if len(offsets) != 1 or len(counts) != 1:
        return []
    frame = jpeg_frame(data, ifd.base + offsets[0], ifd.base + offsets[0] + counts[0])
    if frame is None or frame[0] != 0xC3 or 0 in frame[1]:
        return []
    (width, height), components = frame[1], frame[2]
    return [(width * components, height)]


# --- Fujifilm RAF ------------------------------------------------------------------------

def raf_preview(data: bytes) -> tuple[Image.Image, Size]:
    """A big-endian header: the JPEG's offset and length at 84 and 88, the RAF directory's at 92."""
    offset, length = unpack(data, ">I", 84), unpack(data, ">I", 88)
    if offset < 0 or length < 0:
        raise PhotoError(TRUNCATED)
    jpeg = candidate(data, (offset, offset + length), None) if length else None
    image, preview_size = choose(data, [jpeg] if jpeg else [], Walk())
    return image, raf_raw_size(data) or preview_size


def raf_raw_size(data: bytes) -> Size | None:
    """RawImageFullSize (tag 0x100: height, then width) from the RAF directory."""
    at = unpack(data, ">I", 92)
    count = unpack(data, ">I", at) if at > 0 else -1
    at += 4
    for _ in range(min(count, 256)):
        tag, length = unpack(data, ">H", at), unpack(data, ">H", at + 2)
        if tag < 0 or length < 0:
            return None
        if tag == 0x100 and length == 4:
            height, width = unpack(data, ">H", at + 4), unpack(data, ">H", at + 6)
            return (width, height) if width > 0 and height > 0 else None
        at += 4 + length
    return None


# --- Canon CR3 -------------------------------------------------------------------------
# ISO-BMFF, laid out as lclevy/canon_cr3 describes and LibRaw reads it: moov holds
# Canon's uuid box (CMT1-4: the EXIF as TIFFs; THMB: a 160x120 JPEG), a uuid box
# beside moov holds PRVW (a 1620x1080 JPEG), and each raw track's CRAW sample
# entry has a CMP1 header with the sensor size. metadata.boxes only returns
# boxes that lie wholly inside their parent, so no offset here leaves the file.

CANON_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")
PREVIEW_UUID = bytes.fromhex("eaf42b5e1c984b88b9fbb7dc406e4d16")
UUID_SKIP = {CANON_UUID: 16, PREVIEW_UUID: 24}  # where the boxes start: after the uuid (+ 8 unknown bytes)
CR3_PREVIEWS = {b"THMB": 8, b"PRVW": 12}  # where the JPEG's length is in the payload; the JPEG is at 16
# The IFD each CMT box is, as exifread names it, and the pointer tag that leads to that IFD.
# CMT3 (Canon's maker note) is left out: every field we publish is in the other three.
CMT_IFDS = {b"CMT1": ("Image", None), b"CMT2": ("EXIF", 0x8769), b"CMT4": ("GPS", 0x8825)}


def cr3_preview(data: bytes) -> tuple[Image.Image, Size]:
    top = boxes(data, 0, len(data))
    found = cr3_boxes(data, top)
    if b"PRVW" not in found and cut_short(data, top):
        raise PhotoError(TRUNCATED)  # cut before PRVW's end: THMB (160x120) is no stand-in for it
    image, preview_size = choose(data, cr3_jpegs(data, found), Walk())
    return image, cr3_raw_size(data, found.get(b"moov")) or preview_size


def cr3_boxes(data: bytes, top: list[Box]) -> dict[bytes, Box]:
    """The top-level boxes and those in Canon's two uuid boxes, by type (the first of each)."""
    found: dict[bytes, Box] = {}
    for box in top:
        found.setdefault(box[0], box)
        for uuid in boxes(data, box[1], box[2]) if box[0] == b"moov" else [box]:
            skip = UUID_SKIP.get(data[uuid[1] : uuid[1] + 16]) if uuid[0] == b"uuid" else None
            for inner in boxes(data, uuid[1] + skip, uuid[2]) if skip else []:
                found.setdefault(inner[0], inner)
    return found


def cr3_jpegs(data: bytes, found: dict[bytes, Box]) -> list[Jpeg]:
    jpegs = []
    for kind, length_at in CR3_PREVIEWS.items():
        box = found.get(kind)
        length = unpack(data, ">I", box[1] + length_at) if box else -1
        if length > 0:
            jpegs.append(candidate(data, (box[1] + 16, box[1] + 16 + length), None))
    return [jpeg for jpeg in jpegs if jpeg is not None]


def cut_short(data: bytes, top: list[Box]) -> bool:
    """Whether the top-level boxes stop at one that runs past the end of the file."""
    at = top[-1][2] if top else 0
    if at >= len(data):
        return False
    size = unpack(data, ">I", at)
    if size == 1:  # a 64-bit size follows the type
        size = unpack(data, ">Q", at + 8)
    return size < 0 or size > len(data) - at


def cr3_raw_size(data: bytes, moov: Box | None) -> Size | None:
    """The largest raw track's size from its CMP1 header, as LibRaw's raw_width and raw_height."""
    sizes = []
    for trak in (box for box in boxes(data, moov[1], moov[2]) if box[0] == b"trak") if moov else []:
        stsd = trak
        for kind in (b"mdia", b"minf", b"stbl", b"stsd"):
            stsd = child(data, stsd, kind)
        # stsd: version, flags and entry count first; CRAW: a visual sample entry (82 bytes), then boxes.
        cmp1 = child(data, child(data, stsd, b"CRAW", 8), b"CMP1", 82)
        if cmp1 is not None and cmp1[1] + 16 <= cmp1[2]:
            sizes.append(struct.unpack_from(">II", data, cmp1[1] + 8))
    return max((size for size in sizes if all(size)), key=pixels, default=None)


def cr3_exif_tiffs(data: bytes) -> list[tuple[str, bytes]]:
    """A CR3's CMT boxes as TIFFs for exifread, each with the name exifread gives the IFD it holds.

    CMT1 is a whole TIFF. CMT2 and CMT4 are TIFFs whose IFD0 *is* the Exif
    or the GPS IFD: read as IFD0, their tags would be named as image tags,
    and GPS tags decoded as others with the same numbers. A new IFD0 at the
    end, holding only the pointer to the old one, makes exifread read it as
    the sub-IFD it is; no offset in the TIFF changes, since nothing moves.
    """
    if data[4:12] != CR3_BRAND:
        return []
    found = cr3_boxes(data, boxes(data, 0, len(data)))
    tiffs = []
    for kind, (name, pointer) in CMT_IFDS.items():
        box = found.get(kind)
        tiff = data[box[1] : box[2]] if box else b""
        if tiff[:4] in (b"II*\0", b"MM\0*") and len(tiff) >= 8:
            tiffs.append((name, sub_ifd_tiff(tiff, pointer) if pointer else tiff))
    return tiffs


def sub_ifd_tiff(tiff: bytes, tag: int) -> bytes:
    """The TIFF with a new IFD0 appended whose one entry, `tag` (a LONG), points to the old IFD0."""
    order = "<" if tiff[:2] == b"II" else ">"
    pad = bytes(len(tiff) % 2)  # an IFD starts on a word boundary
    ifd = struct.pack(order + "HHHII", 1, tag, 4, 1, unpack(tiff, order + "I", 4)) + bytes(4)
    return tiff[:4] + struct.pack(order + "I", len(tiff) + len(pad)) + tiff[8:] + pad + ifd
