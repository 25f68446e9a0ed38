"""A minimal TIFF structure writer: EXIF blocks, maker notes and DNG files.

Pillow chooses EXIF field types from the Python value and writes no IFD1
thumbnail, so a camera's EXIF (UNDEFINED maker note, IFD1 thumbnail, DNG
sub-IFDs) is laid out here by hand. Offsets count from the TIFF header, as in
a JPEG's APP1 segment, a DNG file and a Nikon type-3 maker note alike.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Union

BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED, SRATIONAL = 1, 2, 3, 4, 5, 7, 10
TYPE_SIZES = {BYTE: 1, ASCII: 1, SHORT: 2, LONG: 4, RATIONAL: 8, UNDEFINED: 1, SRATIONAL: 8}


@dataclass
class Blob:
    """Bytes placed after the IFDs; the tag holding it gets its offset (a LONG)."""

    data: bytes


@dataclass
class Ifd:
    """One image file directory: tag -> (type, value), child IFDs, and the next IFD."""

    entries: dict[int, tuple[int, object]] = field(default_factory=dict)
    next: "Ifd | None" = None

    def add(self, tag: int, kind: int, value: object) -> "Ifd":
        self.entries[tag] = (kind, value)
        return self

    def ascii(self, tag: int, text: str | None) -> "Ifd":
        if text is not None:
            self.add(tag, ASCII, text.encode("utf-8") + b"\0")
        return self


Value = Union[bytes, int, tuple, "Ifd", Blob]


def _pack(order: str, kind: int, value: object) -> tuple[bytes, int]:
    """The value's bytes and its count."""
    if kind in (BYTE, ASCII, UNDEFINED):
        data = bytes(value)  # type: ignore[arg-type]
        return data, len(data)
    values = value if isinstance(value, tuple) else (value,)
    if kind in (RATIONAL, SRATIONAL):
        code = "i" if kind == SRATIONAL else "I"
        return b"".join(struct.pack(order + code * 2, n, d) for n, d in values), len(values)
    code = {SHORT: "H", LONG: "I"}[kind]
    return struct.pack(order + code * len(values), *values), len(values)


def build(root: Ifd, order: str = ">", header: bool = True) -> bytes:
    """The TIFF bytes for `root` and everything it points to; offsets from byte 0."""
    out = bytearray()
    if header:
        out += (b"MM" if order == ">" else b"II") + struct.pack(order + "HI", 42, 8)
    blobs: list[tuple[int, Blob]] = []

    def align() -> None:
        if len(out) % 2:
            out.append(0)

    def place(ifd: Ifd) -> int:
        align()
        start = len(out)
        tags = sorted(ifd.entries)
        out.extend(bytes(2 + 12 * len(tags) + 4))
        struct.pack_into(order + "H", out, start, len(tags))
        children: list[tuple[int, Ifd]] = []
        for index, tag in enumerate(tags):
            kind, value = ifd.entries[tag]
            at = start + 2 + 12 * index
            if isinstance(value, Ifd):
                struct.pack_into(order + "HHI", out, at, tag, LONG, 1)
                children.append((at + 8, value))
                continue
            if isinstance(value, Blob):
                struct.pack_into(order + "HHI", out, at, tag, LONG, 1)
                blobs.append((at + 8, value))
                continue
            data, count = _pack(order, kind, value)
            struct.pack_into(order + "HHI", out, at, tag, kind, count)
            if len(data) <= 4:
                out[at + 8 : at + 8 + len(data)] = data
            else:
                align()
                struct.pack_into(order + "I", out, at + 8, len(out))
                out.extend(data)
        for pointer_at, child in children:
            struct.pack_into(order + "I", out, pointer_at, place(child))
        if ifd.next is not None:
            struct.pack_into(order + "I", out, start + 2 + 12 * len(tags), place(ifd.next))
        return start

    place(root)
    for pointer_at, blob in blobs:
        align()
        struct.pack_into(order + "I", out, pointer_at, len(out))
        out.extend(blob.data)
    return bytes(out)
