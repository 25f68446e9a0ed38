"""Near-duplicate search and clustering: the same picture again, however it was re-saved.

A copy is the same picture resized, recompressed, re-encoded (WebP, HEIC),
cropped by up to ~10 %, rotated in pixels instead of by an EXIF tag, with
its metadata stripped, a small watermark or a slight brightness/contrast
change. A burst frame (the framing shifted, an object moved) or another
photographer's shot of the same scene is a different picture.

Three steps, all on a photo's *signature* (a 64 px miniature of the upright
picture, luma plus colour at half size, made by `fingerprint` from its one
decode) and on hashes of it:

1. Search. Each photo is indexed by a DCT hash and a mean hash of its centre
   (the middle 76 %). A new photo hashes 31 windows of itself: its centre,
   where a stored photo's centre would be if the new one were a crop of it,
   and where its own centre would be if a stored photo were a crop of it.
   Windows are looked up in a multi-index (five 13-bit chunks, exact
   match), then kept when both hashes are within 12 bits, so crops are
   found although a crop moves every whole-frame hash by 10-25 bits.
2. Verify. A candidate is fitted inside the new photo and the new photo
   inside it (scale 85-100 %, any offset, aspect ratio kept) and compared
   pixel by pixel after normalising brightness and contrast. A copy leaves
   almost nothing unexplained (a watermark ~1 %); a burst frame has new
   content at one edge or an object somewhere else (> 2.5 %, the limit).
3. Cluster. Every duplicate points to one original, the best copy (largest,
   with camera metadata, the larger file, earliest), and must fit it
   directly, so two burst frames are never joined through a crop that fits
   both; photos whose metadata name different captures are never joined. Manual decisions
   (`tags.yml`) override: `not_duplicate_of` keeps two photos apart,
   `duplicate_of` joins them.

Thresholds were tuned on half of benchmarks/dedupe and reported on the other.
For `retag` and anything else that re-decides photographers: call
`apply_inheritance(db)` afterwards, inside the same transaction.

A duplicate keeps its own row; it inherits its original's photographer and
credit (`photographer_source` "duplicate of #N"), its own decision is kept
in `own_photographer_*` columns and comes back when it stops being a copy.
"""

from __future__ import annotations

import multiprocessing
import os
import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterable, Sequence

import numpy as np
import sqlite_utils
from PIL import Image

from .errors import ArchiveError
from .manual import Manual

# --- signature ----------------------------------------------------------------

SIGNATURE_SIZE = 64          # long side of the miniature, px
_HEADER = struct.Struct("<4H")  # signature w, h; upright size it was made from w, h


@dataclass(frozen=True)
class Signature:
    """A photo's miniature: luma as floats (rows x columns), colour at half size, and the aspect."""

    pixels: np.ndarray
    aspect: float            # width / height of the upright picture
    chroma: np.ndarray | None = None   # Cb and Cr at half the size: (2, rows, columns)

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]


def make_signature(upright: Image.Image) -> bytes:
    """The stored miniature: luma at 64 px on the long side, Cb and Cr at 32 px; ~4.6 KB.

    Colour is kept for verification only: a green car where the sky was can
    have the sky's brightness.
    """
    width, height = upright.size
    scale = SIGNATURE_SIZE / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    grey = upright.convert("L").resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
    half = _half_size(*size)
    _, cb, cr = upright.convert("YCbCr").resize(half, Image.Resampling.LANCZOS, reducing_gap=2.0).split()
    return (_HEADER.pack(size[0], size[1], min(width, 65535), min(height, 65535))
            + grey.tobytes() + cb.tobytes() + cr.tobytes())


def _half_size(width: int, height: int) -> tuple[int, int]:
    return (width + 1) // 2, (height + 1) // 2


def read_signature(blob: bytes) -> Signature:
    w, h, uw, uh = _HEADER.unpack_from(blob)
    pixels = np.frombuffer(blob, dtype=np.uint8, count=w * h, offset=_HEADER.size)
    cw, ch = _half_size(w, h)
    chroma = None
    if len(blob) >= _HEADER.size + w * h + 2 * cw * ch:
        chroma = np.frombuffer(blob, dtype=np.uint8, count=2 * cw * ch, offset=_HEADER.size + w * h)
        chroma = chroma.reshape(2, ch, cw).astype(np.float32)
    return Signature(pixels.reshape(h, w).astype(np.float32), uw / uh, chroma)


# --- window hashes --------------------------------------------------------------

MARGIN = 0.12     # the centre hash covers [MARGIN, 1 - MARGIN] of each side
# Crops per axis: (cut at the start, cut at the end), as fractions of the larger picture.
AXIS_CROPS = ((0.0, 0.0), (0.1, 0.0), (0.0, 0.1), (0.05, 0.05))
HASH_GRID = 32    # as imagehash.phash: DCT of 32x32, keep 8x8
HASH_BITS = 8


def _windows() -> list[tuple[float, float, float, float]]:
    """(x0, x1, y0, y1) of the 31 windows: the centre, then 'I am a crop', then 'it is a crop of me'."""
    def crop_of_other(a: float, b: float) -> tuple[float, float]:
        # The other's centre, seen in me, if I am the other cut by a and b.
        return (MARGIN - a) / (1 - a - b), (1 - MARGIN - a) / (1 - a - b)

    def other_is_crop(a: float, b: float) -> tuple[float, float]:
        # The other's centre, seen in me, if the other is me cut by a and b.
        return a + (1 - a - b) * MARGIN, a + (1 - a - b) * (1 - MARGIN)

    windows = [(MARGIN, 1 - MARGIN, MARGIN, 1 - MARGIN)]
    for mapping in (crop_of_other, other_is_crop):
        for ax in AXIS_CROPS:
            for ay in AXIS_CROPS:
                if ax == ay == (0.0, 0.0):
                    continue
                windows.append((*mapping(*ax), *mapping(*ay)))
    return windows


WINDOWS = _windows()


def _area_matrix(n_src: int, start: float, end: float, n_dst: int = HASH_GRID) -> np.ndarray:
    """(n_dst, n_src) weights averaging source pixels [start, end) into n_dst equal bins."""
    edges = start + (end - start) * np.arange(n_dst + 1) / n_dst
    lo, hi = edges[:-1, None], edges[1:, None]
    pixel = np.arange(n_src)[None, :]
    overlap = np.clip(np.minimum(hi, pixel + 1) - np.maximum(lo, pixel), 0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def _intervals() -> tuple[list[tuple[float, float]], list[tuple[float, float]], list[tuple[int, int]]]:
    """The windows are products of few distinct column and row intervals: (columns, rows, pairs)."""
    xs = sorted({(x0, x1) for x0, x1, _, _ in WINDOWS})
    ys = sorted({(y0, y1) for _, _, y0, y1 in WINDOWS})
    return xs, ys, [(xs.index((x0, x1)), ys.index((y0, y1))) for x0, x1, y0, y1 in WINDOWS]


X_INTERVALS, Y_INTERVALS, WINDOW_INTERVALS = _intervals()


@lru_cache(maxsize=256)
def _hash_operators(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row interval and per column interval, the linear map to 8 DCT coefficients
    (crop, area-resize to 32, DCT: imagehash.phash's recipe as one matrix)."""
    n = np.arange(HASH_GRID)
    dct = np.cos(np.pi * (2 * n[None, :] + 1) * np.arange(HASH_BITS)[:, None] / (2 * HASH_GRID))
    rows = np.stack([dct @ _area_matrix(height, y0 * height, y1 * height) for y0, y1 in Y_INTERVALS])
    cols = np.stack([dct @ _area_matrix(width, x0 * width, x1 * width) for x0, x1 in X_INTERVALS])
    return rows.astype(np.float32), cols.astype(np.float32)


_BIT_WEIGHTS = np.uint64(1) << np.arange(63, -1, -1, dtype=np.uint64)  # first coefficient = top bit


def window_hashes(signature: Signature) -> np.ndarray:
    """The 31 window hashes (uint64); the first is the centre hash stored for the photo."""
    return _hashes(signature.pixels[None])[0][0]


def window_hash_pair(signature: Signature) -> tuple[np.ndarray, np.ndarray]:
    """`window_hashes` and `window_mean_hashes` in one go."""
    windows, means = _hashes(signature.pixels[None])
    return windows[0], means[0]


@lru_cache(maxsize=256)
def _mean_operators(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row and column interval, the linear map to 8 means (crop and area-resize in one)."""
    rows = np.stack([_area_matrix(height, y0 * height, y1 * height, HASH_BITS) for y0, y1 in Y_INTERVALS])
    cols = np.stack([_area_matrix(width, x0 * width, x1 * width, HASH_BITS) for x0, x1 in X_INTERVALS])
    return rows.astype(np.float32), cols.astype(np.float32)


def window_mean_hashes(signature: Signature) -> np.ndarray:
    """A second opinion on the same 31 windows: 8x8 means above their median (an average hash).

    Independent enough of the DCT hash that unrelated photos rarely come close in both.
    """
    return _hashes(signature.pixels[None])[1][0]


def many_window_hashes(blobs: list[bytes], block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """`window_hashes` and `window_mean_hashes` of many signatures, as two (photos, 31) arrays.

    Bit for bit the same, computed as large matrix products over all the
    signatures of one size at a time (re-clustering a whole archive).
    """
    windows = np.empty((len(blobs), len(WINDOWS)), dtype=np.uint64)
    means = np.empty_like(windows)
    shapes: dict[tuple[int, int], list[int]] = {}
    for i, blob in enumerate(blobs):
        shapes.setdefault(_HEADER.unpack_from(blob)[:2], []).append(i)
    for (w, h), members in shapes.items():
        for start in range(0, len(members), block):
            part = members[start:start + block]
            pixels = np.stack([np.frombuffer(blobs[i], dtype=np.uint8, count=w * h, offset=_HEADER.size)
                               for i in part]).reshape(len(part), h, w).astype(np.float32)
            windows[part], means[part] = _hashes(pixels)
    return windows, means


@lru_cache(maxsize=256)
def _both_operators(height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row maps of both hash families, and their column maps side by side: (w, 2 * 31 * 8)."""
    dct_rows, dct_cols = _hash_operators(height, width)
    mean_rows, mean_cols = _mean_operators(height, width)
    return dct_rows, mean_rows, np.ascontiguousarray(np.concatenate([dct_cols, mean_cols]).reshape(-1, width).T)


def _hashes(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(DCT hashes, mean hashes) of the 31 windows of each of n same-sized miniatures (n, h, w).

    Columns first, once per distinct column interval (7), then rows per window.
    """
    n, h, w = pixels.shape
    dct_rows, mean_rows, cols = _both_operators(h, w)
    columns = (pixels.reshape(n * h, w) @ cols).reshape(n, h, 2, len(X_INTERVALS), HASH_BITS)
    xi = np.array([x for x, _ in WINDOW_INTERVALS])
    yi = np.array([y for _, y in WINDOW_INTERVALS])
    out = []
    for family, rows in ((0, dct_rows), (1, mean_rows)):
        per_window = columns[:, :, family][:, :, xi].transpose(2, 0, 1, 3)      # (31, n, h, 8)
        values = (rows[yi][:, None] @ per_window).transpose(1, 0, 2, 3).reshape(n, len(WINDOWS), -1)
        bits = values > np.median(values, axis=2, keepdims=True)
        out.append((bits.astype(np.uint64) * _BIT_WEIGHTS).sum(axis=2, dtype=np.uint64))
    return out[0], out[1]


def pack_windows(windows: np.ndarray, seconds: np.ndarray) -> bytes:
    """Both families of window hashes as stored (photo_signatures.windows): 62 x 8 bytes."""
    return np.concatenate([windows, seconds]).astype("<u8").tobytes()


def unpack_windows(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    both = np.frombuffer(blob, dtype="<u8").astype(np.uint64)
    return both[:len(WINDOWS)], both[len(WINDOWS):]


def centre_hash(signature: Signature) -> int:
    return int(window_hashes(signature)[0])


def hamming(a: int | str, b: int | str) -> int:
    """Bits that differ between two 64-bit hashes, as integers or hex (STYLE 7: XOR + popcount)."""
    a = int(a, 16) if isinstance(a, str) else a
    b = int(b, 16) if isinstance(b, str) else b
    return (a ^ b).bit_count()


# --- the index ------------------------------------------------------------------

CHUNKS = (13, 13, 13, 13, 12)   # exact-match chunks of the 64 bits
SEARCH_DISTANCE = 12            # a window this close to a centre hash makes a candidate...
SECOND_DISTANCE = 12            # ...if its mean hash is this close too (copies: <= 10 in the benchmark)


def _chunk(values: np.ndarray, j: int) -> np.ndarray:
    shift = sum(CHUNKS[:j])
    return ((values >> np.uint64(shift)) & np.uint64((1 << CHUNKS[j]) - 1)).astype(np.int64)


class HashIndex:
    """Centre hashes of every photo, searchable by many windows at once.

    A multi-index: per chunk, photo rows sorted by that chunk's value, and
    where each value starts. A window finds every photo sharing one chunk
    exactly; the full distance then filters. Photos added after the build
    go to a small list scanned directly, merged in when it grows.
    """

    MERGE_AT = 2_000   # photos added before the index is rebuilt (1.4 s at a million photos)

    def __init__(self, ids: Iterable[int] = (), hashes: Iterable[int] = (),
                 seconds: Iterable[int] | None = None) -> None:
        self.ids = np.fromiter(ids, dtype=np.int64)
        self.hashes = np.fromiter((int(h) for h in hashes), dtype=np.uint64, count=len(self.ids))
        self.seconds = None if seconds is None else np.fromiter(
            (int(h) for h in seconds), dtype=np.uint64, count=len(self.ids))
        self._build()

    def _build(self) -> None:
        # Probed by the DCT hashes only: the mean hashes' bits are too uneven (bright skies)
        # for their chunks to make small buckets; they only filter.
        self.tables = []
        for family in (self.hashes,):
            for j, bits in enumerate(CHUNKS):
                values = _chunk(family, j)
                order = np.argsort(values, kind="stable").astype(np.int32)
                self.tables.append((len(self.tables) >= len(CHUNKS), j, order,
                                    np.searchsorted(values[order], np.arange((1 << bits) + 1))))
        self.new_ids: list[int] = []
        self.new_hashes: list[int] = []
        self.new_seconds: list[int] = []

    def __len__(self) -> int:
        return len(self.ids) + len(self.new_ids)

    def add(self, photo_id: int, chash: int, second: int | None = None) -> None:
        self.remove(photo_id)
        self.new_ids.append(photo_id)
        self.new_hashes.append(int(chash))
        self.new_seconds.append(int(second or 0))
        if len(self.new_ids) >= self.MERGE_AT:
            self.ids = np.concatenate([self.ids, np.array(self.new_ids, dtype=np.int64)])
            self.hashes = np.concatenate([self.hashes, np.array(self.new_hashes, dtype=np.uint64)])
            if self.seconds is not None:
                self.seconds = np.concatenate([self.seconds, np.array(self.new_seconds, dtype=np.uint64)])
            self._build()

    def remove(self, photo_id: int) -> None:
        """Forget a photo (its file changed); its built row is masked by an impossible id."""
        if photo_id in self.new_ids:
            i = self.new_ids.index(photo_id)
            del self.new_ids[i], self.new_hashes[i], self.new_seconds[i]
        hit = np.flatnonzero(self.ids == photo_id)
        self.ids[hit] = -1

    def search(self, windows: np.ndarray, seconds: np.ndarray | None = None,
               limit: int = SEARCH_DISTANCE) -> dict[int, int]:
        """Photo id -> smallest distance from a window to its centre hash, for those within `limit`.

        A photo is compared with a window when one chunk of its centre's DCT
        hash equals that window's. With `seconds` (the windows' mean hashes,
        when the index has them) the window counts only if its mean hash is
        within SECOND_DISTANCE too.
        """
        found: dict[int, int] = {}
        if len(self.ids):
            rows, which = self._rows_sharing_a_chunk(windows, seconds if self.seconds is not None else None)
            self._keep_close(found, self.ids[rows], self.hashes[rows],
                             None if self.seconds is None else self.seconds[rows], windows[which],
                             None if seconds is None else seconds[which], limit)
        if self.new_ids:
            hashes = np.array(self.new_hashes, dtype=np.uint64)
            means = np.array(self.new_seconds, dtype=np.uint64)
            # The same rule as the built index: (photo, window) pairs sharing a chunk.
            share = np.zeros((len(hashes), len(windows)), dtype=bool)
            for j in range(len(CHUNKS)):
                share |= _chunk(hashes, j)[:, None] == _chunk(windows, j)[None, :]
            rows, which = np.nonzero(share)
            self._keep_close(found, np.array(self.new_ids)[rows], hashes[rows],
                             means[rows] if self.seconds is not None else None, windows[which],
                             None if seconds is None else seconds[which], limit)
        found.pop(-1, None)
        return found

    def search_many(self, windows: np.ndarray, seconds: np.ndarray | None = None,
                    limit: int = SEARCH_DISTANCE) -> tuple[np.ndarray, ...]:
        """Search for many photos at once (built rows only): (query positions, index rows, distances,
        the window that matched).

        `windows` and `seconds` are (photos, 31); the same rule as `search`,
        vectorised over the photos, for re-clustering a whole archive. The
        work can be split (`join_parts`, `join_part`, `join_result`), as
        `find_links` does over processes.
        """
        parts = [self.join_part(windows, seconds, *part, limit=limit) for part in self.join_parts(windows, seconds)]
        return self.join_result(windows.shape[1], parts)

    JOIN_CELLS = 1 << 16   # (window, photo) distances computed at once by `join_part`
    JOIN_VALUE_COST = 20_000  # the time `join_part` takes per chunk value, in window-photo distances

    def _probed(self, windows: np.ndarray, seconds: np.ndarray | None,
                only: int | None = None) -> list[tuple[int, np.ndarray]]:
        """(table, each window's value of that table's chunk) for the tables these windows probe."""
        out = []
        for table, (mean_family, j, _, _) in enumerate(self.tables):
            if (mean_family and (seconds is None or self.seconds is None)) or only not in (None, table):
                continue
            out.append((table, _chunk((seconds if mean_family else windows).ravel(), j)))
        return out

    def join_parts(self, windows: np.ndarray, seconds: np.ndarray | None = None,
                   parts: int = 1) -> list[tuple[int, int, int]]:
        """(table, first chunk value, end chunk value): the search of these windows in about `parts`
        pieces of similar work, at least one per table. The work of a chunk value: the window-photo
        pairs that share it, and a fixed cost for each value shared at all."""
        # Counted on a sample of the photos: the split only needs to be roughly even.
        step = max(1, len(windows) // 10_000)
        loads = []
        for table, keys in self._probed(windows[::step], None if seconds is None else seconds[::step]):
            photos = np.diff(self.tables[table][3])
            pairs = np.bincount(keys, minlength=len(photos)) * step * photos
            loads.append((table, np.cumsum(pairs + self.JOIN_VALUE_COST * (pairs > 0))))
        total = max(1, sum(int(load[-1]) for _, load in loads))
        out = []
        for table, load in loads:
            pieces = max(1, round(parts * int(load[-1]) / total))
            cuts = np.searchsorted(load, load[-1] * np.arange(1, pieces) / pieces).tolist()
            bounds = [0, *cuts, len(load)]
            out += [(int(load[hi - 1] - (load[lo - 1] if lo else 0)), (table, lo, hi))
                    for lo, hi in zip(bounds, bounds[1:]) if hi > lo]
        return [part for _, part in sorted(out, key=lambda o: -o[0])]   # the largest first

    def join_part(self, windows: np.ndarray, seconds: np.ndarray | None, table: int, lo: int, hi: int,
                  limit: int = SEARCH_DISTANCE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(window, row, distance) of every window close to a built photo that shares with it a value
        in [lo, hi) of one table's chunk (window: photo * 31 + k), as `search` filters them.

        A join on the chunk's value: the windows sorted by it, then per value
        every (window, photo) pair of that value at once.
        """
        _, j, order, starts = self.tables[table]
        flat = windows.ravel()
        flat_seconds = None if seconds is None or self.seconds is None else seconds.ravel()
        ((_, keys),) = self._probed(windows, seconds, only=table)
        keys = keys.astype(np.uint16)
        if lo > 0 or hi < len(starts) - 1:
            chosen = np.flatnonzero((keys >= lo) & (keys < hi))
            by_key = chosen[np.argsort(keys[chosen], kind="stable")]
        else:
            by_key = np.argsort(keys, kind="stable")
        sorted_keys = keys[by_key]
        first = np.flatnonzero(np.diff(sorted_keys, prepend=np.int32(-1)))   # where each value starts
        last = np.append(first[1:], len(by_key))
        values = sorted_keys[first].astype(np.int64)
        begin, end = starts[values], starts[values + 1]
        queries = flat[by_key]
        stored = self.hashes[order]
        found_windows, found_rows, found_distances = [], [], []
        for qa, qb, pa, pb in zip(*(a.tolist() for a in (first, last, begin, end))):
            if pa == pb:
                continue
            rows_here = stored[pa:pb, None]
            step = max(1, self.JOIN_CELLS // (pb - pa))
            for q0 in range(qa, qb, step):
                q1 = min(qb, q0 + step)
                distances = np.bitwise_count(rows_here ^ queries[None, q0:q1]).ravel()
                close = np.flatnonzero(distances <= limit)
                if len(close):
                    found_windows.append(by_key[q0 + close % (q1 - q0)])
                    found_rows.append(order[pa + close // (q1 - q0)])
                    found_distances.append(distances[close])
        if not found_rows:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        window = np.concatenate(found_windows).astype(np.int64)
        rows = np.concatenate(found_rows).astype(np.int64)
        distances = np.concatenate(found_distances).astype(np.int64)
        keep = self.ids[rows] >= 0
        if flat_seconds is not None:
            keep &= np.bitwise_count(self.seconds[rows] ^ flat_seconds[window]) <= SECOND_DISTANCE
        return window[keep], rows[keep], distances[keep]

    @staticmethod
    def join_result(per: int, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...]:
        """`search_many`'s answer from its parts: per (query, row) the smallest distance, then window.
        The same (window, row) may come through several chunks: kept once."""
        if not parts:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, empty, empty
        window = np.concatenate([p[0] for p in parts])
        rows = np.concatenate([p[1] for p in parts])
        distances = np.concatenate([p[2] for p in parts])
        query, which = window // per, window % per
        order = np.lexsort((which, distances, rows, query))     # smallest distance first per pair
        query, rows, distances, which = query[order], rows[order], distances[order], which[order]
        first = np.ones(len(query), dtype=bool)
        first[1:] = (query[1:] != query[:-1]) | (rows[1:] != rows[:-1])
        return query[first], rows[first], distances[first], which[first]

    def _rows_sharing_a_chunk(self, windows: np.ndarray,
                              seconds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(row, window) for every row with a chunk equal to that window's, in either hash."""
        rows, which = [], []
        for mean_family, j, order, starts in self.tables:
            if mean_family and seconds is None:
                continue
            keys = _chunk(seconds if mean_family else windows, j)
            begin, end = starts[keys], starts[keys + 1]
            counts = end - begin
            total = int(counts.sum())
            if total:
                offsets = np.repeat(begin - np.cumsum(counts) + counts, counts) + np.arange(total)
                rows.append(order[offsets])
                which.append(np.repeat(np.arange(len(windows)), counts))
        if not rows:
            return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int64)
        return np.concatenate(rows), np.concatenate(which)

    @staticmethod
    def _keep_close(found: dict[int, int], ids: np.ndarray, hashes: np.ndarray, others: np.ndarray | None,
                    windows: np.ndarray, seconds: np.ndarray | None, limit: int) -> None:
        """Element-wise: photo ids[i] against windows[i] (and its mean hash against seconds[i])."""
        if not len(ids):
            return
        distances = np.bitwise_count(hashes ^ windows).astype(np.int64)
        if others is not None and seconds is not None:
            distances[np.bitwise_count(others ^ seconds) > SECOND_DISTANCE] = 64
        close = distances <= limit
        for photo_id, distance in zip(ids[close].tolist(), distances[close].tolist()):
            if distance < found.get(photo_id, 99):
                found[photo_id] = distance


# --- verification -----------------------------------------------------------------

CROP_LIMIT = 0.15       # the most a copy may lack, per side length (10 % crops, with room)
COARSE_CORRELATION = 0.6  # below this at half size, no copy was ever found (benchmark: > 0.8)
SCALE_STEP = 0.01
TOLERANCE = 0.5         # a pixel is explained when the normalised images differ by less
UNEXPLAINED_LIMIT = 0.025  # a copy leaves at most this fraction unexplained (tuned: benchmarks/dedupe)
LUMA_FLOOR = 8.0        # grey levels: flat pictures are compared in absolute terms
CHROMA_FLOOR = 10.0     # ...and nearly grey ones in colour
CHROMA_TOLERANCE = 1.0  # colour is coarser (half size, subsampled by JPEG): a wider margin


@dataclass(frozen=True)
class Match:
    """How one signature fits inside another: the verification of a candidate pair."""

    unexplained: float    # fraction of the smaller picture's pixels that the other does not explain
    correlation: float    # normalised cross-correlation at the best fit
    inside: str           # "a" when a is (a crop of) b, "b" when b is inside a
    crop: float           # the fraction of the larger picture's area the smaller one lacks

    @property
    def duplicate(self) -> bool:
        return self.unexplained <= UNEXPLAINED_LIMIT


def verify(a: Signature, b: Signature, likely: str = "a") -> Match:
    """Fit each picture inside the other (scale, offset; aspect ratio kept) and keep the better fit.

    `likely` ("a" or "b": which one is probably the crop, from the window the
    search matched) is tried first; when it fits, the other way is not tried.
    """
    return verify_many([(a, b, likely)])[0]


def verify_many(pairs: Sequence[tuple[Signature, Signature, str]]) -> list[Match]:
    """`verify` for many pairs at once, each pair's result the same as on its own.

    Every step runs as array operations over all the pairs whose pictures
    (and fitted sizes) are the same size, a few hundred at a time, instead of
    one pair at a time: re-clustering a whole archive verifies tens of
    thousands of pairs of 64 px pictures, where numpy's per-call cost would
    otherwise dominate.
    """
    matches: list[Match | None] = [None] * len(pairs)
    # Same framing (most copies: resized, re-encoded, turned, stripped): one comparison decides.
    same = [k for k, (a, b, _) in enumerate(pairs) if abs(a.aspect / b.aspect - 1.0) < SCALE_STEP]
    scores = _unexplained_many([(pairs[k][0], pairs[k][1], 0, 0, *pairs[k][1].pixels.shape) for k in same])
    for k, unexplained in zip(same, scores):
        if unexplained <= UNEXPLAINED_LIMIT:
            matches[k] = Match(unexplained, 1.0, "a", 0.0)
    # Otherwise the likely crop is fitted inside the other first; when it fits, the reverse is not tried.
    pending = [k for k, match in enumerate(matches) if match is None]
    for reverse in (False, True):
        tries = []
        for k in pending:
            a, b, likely = pairs[k]
            inside = "b" if (likely == "b") != reverse else "a"
            tries.append((inside, (a, b) if inside == "a" else (b, a)))
        fits = _fit_inside_many([job for _, job in tries])
        still = []
        for k, (inside, _), (unexplained, correlation, crop) in zip(pending, tries, fits):
            best = matches[k]
            if best is None or unexplained < best.unexplained:
                matches[k] = Match(unexplained, correlation, inside, crop)
            if unexplained > UNEXPLAINED_LIMIT:
                still.append(k)
        pending = still
    return matches  # type: ignore[return-value]


def likely_inside(window: int) -> str:
    """From the window that matched the searching photo ("a") against a stored one ("b"):
    which of them is probably the crop. Windows 1-15 assume the searcher is, 16-30 the stored one."""
    return "b" if _stored_is_crop(window) else "a"


def _stored_is_crop(window: int | np.ndarray) -> bool | np.ndarray:
    """`likely_inside(window) == "b"`, also element-wise for an array of windows."""
    return window > len(AXIS_CROPS) ** 2 - 1


BATCH = 256   # pairs per array operation: large enough to amortise numpy's per-call cost, small enough for the cache
_COARSE_SCALES = [float(fx) for fx in np.arange(1.0, 1.0 - CROP_LIMIT - 1e-9, -2 * SCALE_STEP)]


def _batches(items: Iterable, key: Callable) -> Iterable[tuple]:
    """(key, up to BATCH items) for the items grouped by key, in order of first appearance."""
    groups: dict = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    for value, members in groups.items():
        for start in range(0, len(members), BATCH):
            yield value, members[start:start + BATCH]


@lru_cache(maxsize=4096)
def _resize_matrix(n_src: int, n_dst: int) -> np.ndarray:
    return _area_matrix(n_src, 0.0, float(n_src), n_dst).astype(np.float32)


def _resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area-average resampling of (n, h, w) pictures as two small matrix products each."""
    _, h, w = pixels.shape
    if (h, w) == (height, width):
        return pixels
    return _resize_matrix(h, height) @ pixels @ _resize_matrix(w, width).T


def _half_shape(h: int, w: int) -> tuple[int, int]:
    return max(2, h // 2), max(2, w // 2)


def _half(pixels: np.ndarray) -> np.ndarray:
    h, w = _half_shape(*pixels.shape[1:])
    return _resize(pixels, w, h)


def _integrals(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Summed-area tables of (n, h, w) images and their squares, for every window's mean and spread."""
    n, h, w = images.shape
    s1 = np.zeros((n, h + 1, w + 1), dtype=np.float64)
    s2 = np.zeros((n, h + 1, w + 1), dtype=np.float64)
    s1[:, 1:, 1:] = _running_sum(_running_sum(images, 1), 2)
    s2[:, 1:, 1:] = _running_sum(_running_sum(images.astype(np.float64) ** 2, 1), 2)
    return s1, s2


def _running_sum(values: np.ndarray, axis: int) -> np.ndarray:
    """values.cumsum(axis), bit for bit (one addition after another); for a stack of many pictures
    as one array operation per step along the axis, several times quicker than numpy's cumsum."""
    if len(values) < 16:
        return values.cumsum(axis)
    out = np.moveaxis(values, axis, 0).copy()
    for i in range(1, len(out)):
        np.add(out[i - 1], out[i], out=out[i])
    return np.moveaxis(out, 0, axis)


def _windows_of(images: np.ndarray, th: int, tw: int) -> np.ndarray:
    """Every th x tw window of (n, h, w) images, as a read-only view: (n, rows, columns, th, tw)."""
    n, h, w = images.shape
    a, b, c = images.strides
    return np.lib.stride_tricks.as_strided(images, (n, h - th + 1, w - tw + 1, th, tw), (a, b, c, b, c),
                                           writeable=False)


def _best_offsets(images: np.ndarray, templates: np.ndarray, integrals: tuple[np.ndarray, np.ndarray],
                  row_length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pair, the highest normalised cross-correlation of the template at an offset fully inside
    the image, and that offset: (correlations, rows, columns).

    `row_length`: the width of the picture the images are cut from. A template
    as wide as that picture makes each offset's window one run of memory there:
    numpy then multiplies the windows in place, summing in order, where copied
    windows go to BLAS, which sums in another order. Both are kept as they
    would be for one pair on its own, so a pair's result does not depend on
    the pairs verified with it (the last bits of a correlation can pick another
    offset between two nearly equal ones).
    """
    n, th, tw = templates.shape
    templates = templates - templates.mean(axis=(1, 2), keepdims=True)
    views = _windows_of(images, th, tw)
    oy, ox = views.shape[1:3]
    windows = views.reshape(n, oy * ox, th * tw)
    if tw != row_length:
        windows = np.ascontiguousarray(windows)
    products = (windows @ templates.reshape(n, th * tw, 1)).reshape(n, oy, ox)
    s1, s2 = integrals
    sums = s1[:, th:, tw:] - s1[:, :-th, tw:] - s1[:, th:, :-tw] + s1[:, :-th, :-tw]
    squares = s2[:, th:, tw:] - s2[:, :-th, tw:] - s2[:, th:, :-tw] + s2[:, :-th, :-tw]
    spread = np.sqrt(np.maximum(squares - sums * sums / (th * tw), 1e-3))
    norms = np.maximum(np.sqrt((templates ** 2).sum(axis=(1, 2))).astype(np.float64), 1e-3)
    correlation = (products / (spread * norms[:, None, None])).reshape(n, oy * ox)
    best = correlation.argmax(axis=1)
    return correlation[np.arange(n), best], best // ox, best % ox


def _fit_inside_many(jobs: list[tuple[Signature, Signature]]) -> list[tuple[float, float, float]]:
    """(unexplained, correlation, crop) of each `small` placed at its best position inside its `big`.

    Searched at half size over scales and offsets, refined at full size
    around the best, then scored with one pixel of slack for the alignment.
    """
    out = [(1.0, 0.0, 1.0)] * len(jobs)

    def coarse_sizes(k: int) -> tuple:
        small, big = jobs[k]
        ch, cw = _half_shape(*big.pixels.shape)
        return (small.pixels.shape, big.pixels.shape,
                tuple(_template_size(fx, small, big, cw, ch) for fx in _COARSE_SCALES))

    coarse: dict[int, tuple[float, float, int, int]] = {}   # correlation, scale, row, column
    for (_, _, sizes), members in _batches(range(len(jobs)), coarse_sizes):
        if all(size is None for size in sizes):
            continue
        bigs = _half(np.stack([jobs[k][1].pixels for k in members]))
        smalls = _half(np.stack([jobs[k][0].pixels for k in members]))
        integrals = _integrals(bigs)
        best = np.full(len(members), -np.inf)
        scale = np.zeros(len(members))
        rows = np.zeros(len(members), dtype=np.int64)
        cols = np.zeros(len(members), dtype=np.int64)
        for fx, size in zip(_COARSE_SCALES, sizes):
            if size is None:
                continue
            value, y, x = _best_offsets(bigs, _resize(smalls, *size), integrals, bigs.shape[2])
            better = value > best
            best[better], scale[better], rows[better], cols[better] = value[better], fx, y[better], x[better]
        for i, k in enumerate(members):
            coarse[k] = (float(best[i]), float(scale[i]), int(rows[i]), int(cols[i]))
    refine = []
    for k, (correlation, _, _, _) in coarse.items():
        if correlation < COARSE_CORRELATION:
            out[k] = (1.0, correlation, 1.0)  # nothing alike at any scale: not worth refining
        else:
            refine.append(k)
    fine: dict[int, tuple[float, int, int, int, int]] = {}  # correlation, row, column, height, width
    for step in (SCALE_STEP, 0.0, -SCALE_STEP):
        tries = []
        for k in refine:
            small, big = jobs[k]
            _, coarse_fx, cy, cx = coarse[k]
            bh, bw = big.pixels.shape
            size = _template_size(coarse_fx + step, small, big, bw, bh)
            if size is None:
                continue
            tw, th = size
            y0, x0 = max(0, 2 * cy - 2), max(0, 2 * cx - 2)
            y1, x1 = min(bh, 2 * cy + th + 2), min(bw, 2 * cx + tw + 2)
            if y1 - y0 >= th and x1 - x0 >= tw:
                tries.append((k, y0, x0, y1, x1, th, tw))
        shape = lambda t: (jobs[t[0]][0].pixels.shape, jobs[t[0]][1].width, t[5], t[6], t[3] - t[1], t[4] - t[2])  # noqa: E731
        for (_, width, th, tw, _, _), group in _batches(tries, shape):
            regions = np.stack([jobs[k][1].pixels[y0:y1, x0:x1] for k, y0, x0, y1, x1, _, _ in group])
            templates = _resize(np.stack([jobs[t[0]][0].pixels for t in group]), tw, th)
            value, y, x = _best_offsets(regions, templates, _integrals(regions), width)
            for i, (k, y0, x0, _, _, _, _) in enumerate(group):
                if k not in fine or value[i] > fine[k][0]:
                    fine[k] = (float(value[i]), y0 + int(y[i]), x0 + int(x[i]), th, tw)
    placed = sorted(fine)
    scores = _unexplained_many([(*jobs[k], *fine[k][1:]) for k in placed])
    for k, unexplained in zip(placed, scores):
        correlation, _, _, th, tw = fine[k]
        bh, bw = jobs[k][1].pixels.shape
        out[k] = (unexplained, correlation, 1.0 - (th * tw) / (bh * bw))
    return out


def _unexplained_many(items: list[tuple[Signature, Signature, int, int, int, int]]) -> list[float]:
    """Per (small, big, y, x, th, tw): the fraction of the small picture, placed at (y, x) in th x tw
    of the big one, that it does not explain.

    Brightness and contrast are normalised. One pixel of slack: a pixel may
    match any neighbour of its place, so an alignment half a pixel off or a
    resampling edge is not a difference. Luma at full size, colour at half.
    """
    out = [0.0] * len(items)

    def shapes(k: int) -> tuple:
        small, big, _, _, th, tw = items[k]
        colour = small.chroma is not None and big.chroma is not None
        return small.pixels.shape, big.pixels.shape, th, tw, colour and big.chroma.shape

    for (_, (bh, bw), th, tw, big_colour), members in _batches(range(len(items)), shapes):
        smalls = [items[k][0] for k in members]
        bigs = [items[k][1] for k in members]
        ys = np.array([items[k][2] for k in members])
        xs = np.array([items[k][3] for k in members])
        unexplained = _slack_unexplained(_resize(np.stack([s.pixels for s in smalls]), tw, th),
                                         np.stack([b.pixels for b in bigs]), ys, xs, LUMA_FLOOR, TOLERANCE,
                                         tw == bw)
        if big_colour:
            for c in range(2):
                # Compared on the luma grid (each colour pixel repeated 2 x 2), so the slack stays one luma pixel.
                chroma = np.stack([b.chroma[c] for b in bigs]).repeat(2, axis=1).repeat(2, axis=2)[:, :bh, :bw]
                unexplained |= _slack_unexplained(_resize(np.stack([s.chroma[c] for s in smalls]), tw, th),
                                                  chroma, ys, xs, CHROMA_FLOOR, CHROMA_TOLERANCE,
                                                  tw == 2 * big_colour[2])
        fractions = unexplained.reshape(len(members), -1).mean(axis=1)
        for k, fraction in zip(members, fractions.tolist()):
            out[k] = fraction
    return out


def _slack_unexplained(smalls: np.ndarray, bigs: np.ndarray, ys: np.ndarray, xs: np.ndarray,
                       floor: float, tolerance: float, whole_rows: bool) -> np.ndarray:
    """Where |normalised small - normalised big|, the smallest over each pixel's 3x3 neighbourhood,
    exceeds `tolerance`: (n, th, tw) booleans, small picture k placed at (ys[k], xs[k]) in big one k
    (edges repeated for the neighbourhood).

    `whole_rows`: the window spans whole rows of the big picture as stored;
    its mean and spread are then summed as one run, as numpy sums a
    contiguous array (the same bits as verifying the pair on its own, where
    the window is a view of the picture).
    """
    n, th, tw = smalls.shape
    _, bh, bw = bigs.shape
    template = smalls - smalls.mean(axis=(1, 2), keepdims=True)
    template /= np.maximum(template.std(axis=(1, 2), keepdims=True), floor)
    padded = np.empty((n, bh + 2, bw + 2), dtype=np.float32)
    padded[:, 1:-1, 1:-1] = bigs
    padded[:, 1:-1, 0], padded[:, 1:-1, -1] = bigs[:, :, 0], bigs[:, :, -1]
    padded[:, 0], padded[:, -1] = padded[:, 1], padded[:, -2]
    if (th, tw) == (bh, bw):
        around, window = padded, bigs  # the whole picture: every offset is 0
    else:
        around = _windows_of(padded, th + 2, tw + 2)[np.arange(n), ys, xs]
        window = around[:, 1:-1, 1:-1]
        if whole_rows:
            window = np.ascontiguousarray(window)
    mean, spread = window.mean(axis=(1, 2), keepdims=True), window.std(axis=(1, 2), keepdims=True)
    around -= mean
    around /= np.maximum(spread, floor)
    # All pictures as one flat run, the template inside a one-pixel frame like `around`: the
    # neighbour (dy, dx) of any pixel is then one fixed step away, dy * (tw + 2) + dx. What lands
    # on the frames is never read.
    framed = np.empty((n, th + 2, tw + 2), dtype=np.float32)
    framed[:, 1:-1, 1:-1] = template
    framed[:, 0] = framed[:, -1] = framed[:, :, 0] = framed[:, :, -1] = 0.0
    framed, flat = framed.reshape(-1), around.reshape(-1)
    step = tw + 2
    lo, hi = step + 1, flat.size - step - 1
    residual = np.empty(flat.size, dtype=np.float32)
    difference = np.empty(hi - lo, dtype=np.float32)
    for offset in (-step - 1, -step, -step + 1, -1, 0, 1, step - 1, step, step + 1):
        if offset == -step - 1:
            np.subtract(framed[lo:hi], flat[lo + offset:hi + offset], out=residual[lo:hi])
            np.abs(residual[lo:hi], out=residual[lo:hi])
            continue
        np.subtract(framed[lo:hi], flat[lo + offset:hi + offset], out=difference)
        np.abs(difference, out=difference)
        np.minimum(residual[lo:hi], difference, out=residual[lo:hi])
    return residual.reshape(n, th + 2, tw + 2)[:, 1:-1, 1:-1] > tolerance


def _template_size(fx: float, small: Signature, big: Signature, width: int,
                   height: int) -> tuple[int, int] | None:
    """The small picture's size on the big one's grid at horizontal scale fx, if it fits."""
    fy = fx * big.aspect / small.aspect
    if fy > 1.0 + 2 * SCALE_STEP or fy < 1.0 - CROP_LIMIT:
        return None
    tw, th = round(fx * width), min(height, round(fy * height))
    if tw > width or tw < 2 or th < 2:
        return None
    return tw, th


# --- clusters ------------------------------------------------------------------------


@dataclass(frozen=True)
class Copy:
    """What decides which copy of a picture is the original: size, metadata, bytes, age."""

    id: int
    pixels: int                 # width x height as stored
    has_metadata: bool          # camera make/model or capture time: the file as the camera wrote it
    ingested_at: str = ""
    capture: str | None = None  # capture time and camera body, when the file still says them
    file_size: int = 0          # bytes; 0 when unknown
    sha256: str = ""

    def rank(self) -> tuple:
        """Best first: largest, then with original metadata, then the larger file (a re-share is
        recompressed), then earliest, then by sha256.

        Everything before the ingest time comes from the file itself, so rebuilding archive.db
        from the inbox (where every photo gets a new time and id) picks the same originals.
        """
        return (-self.pixels, not self.has_metadata, -self.file_size, self.ingested_at, self.sha256, self.id)


@dataclass(frozen=True)
class Link:
    """A verified duplicate pair (a < b) and how well it fits."""

    a: int
    b: int
    distance: int        # window-hash distance that made them candidates
    unexplained: float   # verification: fraction of the smaller picture not explained by the other


def cluster(copies: Iterable[Copy], links: Iterable[Link],
            keep_apart: Iterable[tuple[int, int]] = (),
            joined: dict[int, int] | None = None) -> dict[int, int | None]:
    """Each photo's original (None for an original), from verified links and manual decisions.

    Star clusters: photos are taken best first; each joins the cluster of an
    original it is linked to, or, with no such link, the cluster of a linked
    duplicate; otherwise it is an original itself. So every
    duplicate fits its original directly or through one copy of it, and two
    originals are never merged through a photo that fits both (a crop that
    fits two burst frames). `keep_apart` pairs never share a cluster;
    `joined` (photo -> photo it duplicates) is a person's decision and wins.
    Photos whose metadata name different captures (another capture time or
    camera body: the next frame of a burst, another photographer) never
    share a cluster, however alike their pixels.
    """
    joined = dict(joined or {})
    by_id = {c.id: c for c in copies}
    neighbours: dict[int, dict[int, float]] = {}
    for link in links:
        if link.a in by_id and link.b in by_id:
            neighbours.setdefault(link.a, {})[link.b] = link.unexplained
            neighbours.setdefault(link.b, {})[link.a] = link.unexplained
    apart: dict[int, set[int]] = {}
    for a, b in keep_apart:
        apart.setdefault(a, set()).add(b)
        apart.setdefault(b, set()).add(a)
    original: dict[int, int | None] = {}
    members: dict[int, set[int]] = {}
    captures: dict[int, set[str]] = {}

    def allowed(photo: int, root: int) -> bool:
        capture = by_id[photo].capture
        if capture is not None and not captures[root] <= {capture}:
            return False
        return not (apart.get(photo, set()) & members[root])

    def join(photo: int, root: int | None) -> None:
        original[photo] = root
        top = photo if root is None else root
        members.setdefault(top, {top}).add(photo)
        captures.setdefault(top, set()).update([by_id[photo].capture] if by_id[photo].capture else [])

    for copy in sorted(by_id.values(), key=Copy.rank):
        photo = copy.id
        if photo in joined and joined[photo] in by_id:
            continue  # placed below, where the person said
        # The clusters this photo fits: preferably one whose original it fits directly, then
        # the one it fits most members of (a crop that fits two burst frames goes with the
        # frame that has been copied before), then the best fit, then the best original.
        options: dict[int, list] = {}
        for other, fit in neighbours.get(photo, {}).items():
            if other not in original:
                continue  # ranks lower: it will choose, not be chosen
            root = other if original[other] is None else original[other]
            if not allowed(photo, root):
                continue
            entry = options.setdefault(root, [True, 0, 1.0, by_id[root].rank()])
            entry[0] = entry[0] and other != root
            entry[1] -= 1
            entry[2] = min(entry[2], fit)
        choice = min(options, key=lambda root: options[root], default=None)
        join(photo, choice)
    for photo in _in_join_order(joined, by_id):
        root = _root_of(joined[photo], original, joined)
        join(photo, None if root == photo else root)
    return original


def _in_join_order(joined: dict[int, int], by_id: dict[int, Copy]) -> list[int]:
    """Manually joined photos, targets before the photos that point to them (cycles broken)."""
    order: list[int] = []
    seen: set[int] = set()

    def visit(photo: int, path: set[int]) -> None:
        if photo in seen or photo in path:
            return
        target = joined.get(photo)
        if target in joined and target in by_id:
            visit(target, path | {photo})
        seen.add(photo)
        order.append(photo)

    # In content order, not id order: a cycle of verdicts is broken at the same photo after a rebuild.
    for photo in sorted((p for p in joined if p in by_id and joined[p] in by_id), key=lambda p: by_id[p].rank()):
        visit(photo, set())
    return order


def _root_of(photo: int, original: dict[int, int | None], joined: dict[int, int]) -> int | None:
    if photo not in original:
        return None
    return original[photo] if original[photo] is not None else photo


# --- the archive ------------------------------------------------------------------------
# archive.db keeps each photo's signature and centre hash (photo_signatures),
# the verified pairs (duplicate_links) and, in photos, duplicate_of plus the
# photographer a duplicate had before it inherited its original's.

INHERITED = "duplicate of #"     # photographer_source of a duplicate: "duplicate of #12"
COMPONENT_LIMIT = 5_000          # photos re-clustered around one new photo, at most


def manual_constraints(db: sqlite_utils.Database, manual: Manual | None) -> tuple[list[tuple[int, int]], dict[int, int]]:
    """tags.yml's duplicate verdicts as photo ids: (pairs kept apart, photo -> photo it duplicates).

    Verdicts about photos not (yet) in the archive wait in tags.yml until they arrive.
    """
    if manual is None or not manual.photos:
        return [], {}
    shas = set()
    for sha, decisions in manual.photos.items():
        if decisions.duplicate_of or decisions.not_duplicate_of:
            shas |= {sha, *decisions.not_duplicate_of}
            if decisions.duplicate_of:
                shas.add(decisions.duplicate_of)
    ids = _ids_for(db, shas)
    apart, joined = [], {}
    for sha, decisions in manual.photos.items():
        if sha not in ids:
            continue
        for other in decisions.not_duplicate_of:
            if other in ids:
                apart.append((ids[sha], ids[other]))
        if decisions.duplicate_of in ids and decisions.duplicate_of != sha:
            joined[ids[sha]] = ids[decisions.duplicate_of]
    return apart, joined


def _ids_for(db: sqlite_utils.Database, shas: set[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    shas_list = sorted(shas)
    for start in range(0, len(shas_list), 500):
        part = shas_list[start:start + 500]
        marks = ",".join("?" * len(part))
        out.update(db.execute(f"select sha256, id from photos where sha256 in ({marks})", part).fetchall())
    return out


def _copies(db: sqlite_utils.Database, ids: Iterable[int] | None = None) -> list[Copy]:
    sql = ("select id, coalesce(width, 0) * coalesce(height, 0), "
           "camera_make is not null or camera_model is not null or taken_at is not null, "
           "coalesce(ingested_at, ''), taken_at, coalesce(camera_serial, camera_model), "
           "coalesce(file_size, 0), coalesce(sha256, '') from photos")
    if ids is None:
        rows = db.execute(sql).fetchall()
    else:
        rows = []
        id_list = sorted(set(ids))
        for start in range(0, len(id_list), 500):
            part = id_list[start:start + 500]
            rows += db.execute(sql + f" where id in ({','.join('?' * len(part))})", part).fetchall()
    return [Copy(i, pixels, bool(meta), at, capture_key(taken, body), size, sha)
            for i, pixels, meta, at, taken, body, size, sha in rows]


def capture_key(taken_at: str | None, body: str | None) -> str | None:
    """'When and with what' a file says it was taken; None when it does not say (stripped)."""
    return f"{taken_at}|{body or ''}" if taken_at else None


def _links(db: sqlite_utils.Database, ids: set[int] | None = None) -> list[Link]:
    rows = db.execute("select photo_id, other_id, distance, unexplained from duplicate_links").fetchall() \
        if ids is None else _rows_touching(db, ids)
    return [Link(a, b, d, u) for a, b, d, u in rows if ids is None or (a in ids and b in ids)]


def _rows_touching(db: sqlite_utils.Database, ids: set[int]) -> list[tuple]:
    rows: list[tuple] = []
    id_list = sorted(ids)
    for start in range(0, len(id_list), 400):
        part = id_list[start:start + 400]
        marks = ",".join("?" * len(part))
        rows += db.execute(
            "select photo_id, other_id, distance, unexplained from duplicate_links "
            f"where photo_id in ({marks}) or other_id in ({marks})", part + part).fetchall()
    return rows


def component(db: sqlite_utils.Database, seeds: Iterable[int], joined: dict[int, int],
              limit: int = COMPONENT_LIMIT) -> set[int]:
    """Every photo connected to `seeds` by a link, a current duplicate_of or a manual join."""
    reverse_joined: dict[int, set[int]] = {}
    for a, b in joined.items():
        reverse_joined.setdefault(b, set()).add(a)
    seen: set[int] = set()
    frontier = set(seeds)
    while frontier and len(seen) < limit:
        seen |= frontier
        batch = sorted(frontier)
        found: set[int] = set()
        for start in range(0, len(batch), 400):
            part = batch[start:start + 400]
            marks = ",".join("?" * len(part))
            for a, b in db.execute(f"select photo_id, other_id from duplicate_links where photo_id in ({marks}) "
                                   f"or other_id in ({marks})", part + part):
                found |= {a, b}
            for a, b in db.execute(f"select id, duplicate_of from photos where duplicate_of is not null "
                                   f"and (id in ({marks}) or duplicate_of in ({marks}))", part + part):
                found |= {a, b}
        for photo in batch:
            if photo in joined:
                found.add(joined[photo])
            found |= reverse_joined.get(photo, set())
        frontier = found - seen
    return seen


def save_originals(db: sqlite_utils.Database, original: dict[int, int | None]) -> list[int]:
    """Write duplicate_of where it changed; returns the photos that changed."""
    current = dict(_current_originals(db, original))
    changed = [p for p, o in original.items() if current.get(p) != o]
    if len(changed) < 1_000:
        db.conn.executemany("update photos set duplicate_of = ? where id = ?", [(original[p], p) for p in changed])
        return changed
    # Many (re-clustering the archive): one statement. With foreign keys on, each statement costs
    # ~40 us on its own, three times the row's update.
    db.execute("create temp table if not exists new_originals (id integer primary key, original integer)")
    db.conn.executemany("insert into temp.new_originals values (?, ?)", [(p, original[p]) for p in changed])
    db.execute("update photos set duplicate_of = (select original from temp.new_originals n where n.id = photos.id) "
               "where id in (select id from temp.new_originals)")
    db.execute("delete from temp.new_originals")
    return changed


def _current_originals(db: sqlite_utils.Database, ids: Iterable[int]) -> Iterable[tuple[int, int | None]]:
    id_list = sorted(ids)
    for start in range(0, len(id_list), 500):
        part = id_list[start:start + 500]
        yield from db.execute(f"select id, duplicate_of from photos where id in ({','.join('?' * len(part))})",
                              part).fetchall()


def apply_inheritance(db: sqlite_utils.Database, ids: Iterable[int] | None = None) -> None:
    """Duplicates take their original's photographer and credit; a former duplicate gets its own back.

    Call after anything re-decides photographers (ingest does; `retag` must,
    see the module doc) or re-points duplicates. Only rows that change are written.
    """
    if ids is not None:
        id_list = sorted(set(ids))
        if not id_list:
            return
        for start in range(0, len(id_list), 500):
            apply_inheritance_rows(db, id_list[start:start + 500])
        return
    apply_inheritance_rows(db, None)


def apply_inheritance_rows(db: sqlite_utils.Database, part: list[int] | None) -> None:
    scope = "" if part is None else f" and id in ({','.join('?' * len(part))})"
    params = [] if part is None else list(part)
    # A duplicate's own decision (written by tagging) is kept before it is replaced.
    db.execute(
        "update photos set own_photographer_id = photographer_id, own_photographer_source = photographer_source, "
        "own_credit = credit where duplicate_of is not null "
        f"and (photographer_source is null or photographer_source not like '{INHERITED}%')" + scope, params)
    # Originals first (a former duplicate gets its own back), then their duplicates copy them.
    db.execute(
        "update photos set photographer_id = own_photographer_id, photographer_source = own_photographer_source, "
        "credit = own_credit, own_photographer_id = null, own_photographer_source = null, own_credit = null "
        f"where duplicate_of is null and photographer_source like '{INHERITED}%'" + scope, params)
    db.execute(
        "update photos set (photographer_id, credit, photographer_source) = "
        f"(select o.photographer_id, o.credit, '{INHERITED}' || o.id from photos o where o.id = photos.duplicate_of) "
        "where duplicate_of is not null and not exists (select 1 from photos o where o.id = photos.duplicate_of "
        "and o.photographer_id is photos.photographer_id and o.credit is photos.credit "
        f"and '{INHERITED}' || o.id = photos.photographer_source)" + scope, params)


def recluster(db: sqlite_utils.Database, seeds: Iterable[int], manual: Manual | None = None,
              constraints: tuple[list[tuple[int, int]], dict[int, int]] | None = None) -> list[int]:
    """Re-decide the clusters around `seeds` (inside the caller's transaction); returns changed photos."""
    apart, joined = constraints if constraints is not None else manual_constraints(db, manual)
    ids = component(db, seeds, joined)
    original = cluster(_copies(db, ids), _links(db, ids), apart, joined)
    changed = save_originals(db, original)
    if changed:
        # The changed photos, and the duplicates of any photo that changed (their original's credit moved).
        affected = set(changed) | {p for p, o in original.items() if o in set(changed)}
        apply_inheritance(db, affected)
    return changed


def candidate_signatures(db: sqlite_utils.Database, ids: list[int]) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        out.update(db.execute(f"select photo_id, signature from photo_signatures "
                              f"where photo_id in ({','.join('?' * len(part))})", part).fetchall())
    return out


class Deduper:
    """The archive's duplicate search for one ingest run: the index is loaded once."""

    def __init__(self, db: sqlite_utils.Database, manual: Manual | None = None) -> None:
        rows = db.execute("select photo_id, chash, cahash from photo_signatures").fetchall()
        self.index = HashIndex((r[0] for r in rows), (int(r[1], 16) for r in rows),
                               (int(r[2] or "0", 16) for r in rows))
        self.manual = manual
        self.constraints = manual_constraints(db, manual)
        # For the run's summary: the photos that were near duplicates before, and those written or
        # re-pointed since.
        self.were_duplicates = {r[0] for r in db.execute("select id from photos where duplicate_of is not null")}
        self.touched: set[int] = set()

    def new_duplicates(self, db: sqlite_utils.Database) -> int:
        """How many photos became near duplicates since the index was loaded (written or re-pointed
        since, duplicates now, and not before)."""
        ids = sorted(self.touched - self.were_duplicates)
        count = 0
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            count += db.execute(f"select count(*) from photos where duplicate_of is not null "
                                f"and id in ({','.join('?' * len(part))})", part).fetchone()[0]
        return count

    def photo_written(self, db: sqlite_utils.Database, photo_id: int, signature_blob: bytes) -> list[int]:
        """Index a new or changed photo, link it to its verified duplicates, re-cluster around it."""
        if not signature_blob:
            return []
        signature = read_signature(signature_blob)
        windows, seconds = window_hash_pair(signature)
        db.execute("delete from duplicate_links where photo_id = ? or other_id = ?", [photo_id, photo_id])
        db.table("photo_signatures").upsert(
            {"photo_id": photo_id, "chash": f"{int(windows[0]):016x}", "cahash": f"{int(seconds[0]):016x}",
             "signature": signature_blob, "windows": pack_windows(windows, seconds)}, pk="photo_id")
        self.index.remove(photo_id)
        for link in self.links_for(db, photo_id, signature, windows, seconds):
            db.table("duplicate_links").upsert(
                {"photo_id": link.a, "other_id": link.b, "distance": link.distance,
                 "unexplained": round(link.unexplained, 4)}, pk=("photo_id", "other_id"))
        self.index.add(photo_id, int(windows[0]), int(seconds[0]))
        # A photo named in tags.yml may have just arrived: its verdicts now resolve to ids.
        if self.manual is not None and self.manual.photos:
            self.constraints = manual_constraints(db, self.manual)
        changed = recluster(db, [photo_id], constraints=self.constraints)
        self.touched.update([photo_id, *changed])
        return changed

    def links_for(self, db: sqlite_utils.Database, photo_id: int, signature: Signature,
                  windows: np.ndarray, seconds: np.ndarray) -> list[Link]:
        found = self.index.search(windows, seconds)
        found.pop(photo_id, None)
        blobs = candidate_signatures(db, sorted(found))
        matches = verify_many([(signature, read_signature(blob), "a") for blob in blobs.values()])
        links = []
        for other, match in zip(blobs, matches):
            if match.duplicate:
                a, b = sorted((photo_id, other))
                links.append(Link(a, b, found[other], match.unexplained))
        return links


# --- review and manual verdicts -----------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One photo of a cluster, as the `duplicates` command lists it."""

    id: int
    path: str
    credit: str | None
    width: int
    height: int
    distance: int | None = None        # window-hash distance to the original (None: no direct link)
    unexplained: float | None = None   # verification against the original
    manual: bool = False               # placed by a person's verdict

    def line(self) -> str:
        size = f"{self.width}x{self.height}"
        if self.manual:
            how = "marked by hand"
        elif self.unexplained is None:
            how = "through another copy"
        else:
            how = f"distance {self.distance}, {100 * self.unexplained:.1f}% unexplained"
        return f"#{self.id} {self.path} ({size}; {how})"


@dataclass(frozen=True)
class Cluster:
    original: Member
    duplicates: list[Member]

    def lines(self) -> list[str]:
        head = f"#{self.original.id} {self.original.path} ({self.original.width}x{self.original.height}) " \
               f"credit: {self.original.credit or 'none'}"
        return [head] + [f"    {d.line()}" for d in self.duplicates]


def clusters_for_review(db: sqlite_utils.Database, manual: Manual | None = None) -> list[Cluster]:
    """Every original that has duplicates, with them, largest clusters first."""
    _, joined = manual_constraints(db, manual)
    rows = db.execute(
        "select id, path, credit, coalesce(width, 0), coalesce(height, 0), duplicate_of from photos "
        "where duplicate_of is not null or id in (select duplicate_of from photos where duplicate_of is not null) "
        "order by id").fetchall()
    links = {(a, b): (d, u) for a, b, d, u in _rows_touching(db, {r[0] for r in rows})} if rows else {}
    originals = {r[0]: Member(*r[:5]) for r in rows if r[5] is None}
    copies: dict[int, list[Member]] = {}
    for photo, path, credit, w, h, original in rows:
        if original is None:
            continue
        distance, unexplained = links.get(tuple(sorted((photo, original))), (None, None))
        copies.setdefault(original, []).append(
            Member(photo, path, credit, w, h, distance, unexplained, manual=joined.get(photo) is not None))
    out = [Cluster(originals[o], members) for o, members in copies.items() if o in originals]
    return sorted(out, key=lambda c: (-len(c.duplicates), c.original.id))


def record_verdict(db_path: str, manual: Manual, first: str, second: str, duplicate: bool) -> str:
    """Save "FIRST is (not) a duplicate of SECOND" in tags.yml and apply it now; returns one line."""
    from .retag import find_photo  # retag imports the tagging stack; only this command needs it
    from .state import open_archive

    archive, ledger = open_archive(db_path)
    try:
        a_id, a_sha, a_path = find_photo(archive, ledger, first)
        b_id, b_sha, b_path = find_photo(archive, ledger, second)
        if a_id == b_id:
            raise ArchiveError(f"'{first}' and '{second}' are the same photo (#{a_id})")
        mine, theirs = manual.edit(a_sha, a_path), manual.edit(b_sha, b_path)
        if duplicate:
            mine.duplicate_of = b_sha
            mine.not_duplicate_of = [s for s in mine.not_duplicate_of if s != b_sha]
            theirs.not_duplicate_of = [s for s in theirs.not_duplicate_of if s != a_sha]
            if theirs.duplicate_of == a_sha:
                theirs.duplicate_of = None  # the person has turned it round
        else:
            mine.not_duplicate_of = sorted(set(mine.not_duplicate_of) | {b_sha})
            for decisions, other in ((mine, b_sha), (theirs, a_sha)):
                if decisions.duplicate_of == other:
                    decisions.duplicate_of = None
        manual.save()
        with archive.atomic():
            recluster(archive, [a_id, b_id], manual)
        (a_original,) = archive.execute("select duplicate_of from photos where id = ?", [a_id]).fetchone()
        (b_original,) = archive.execute("select duplicate_of from photos where id = ?", [b_id]).fetchone()
    finally:
        archive.close()
        ledger.close()
    verdict = "a duplicate of" if duplicate else "not a duplicate of"
    state = {None: "an original"}
    return (f"#{a_id} ({a_path}) is {verdict} #{b_id} ({b_path}), kept in {manual.path}: "
            f"#{a_id} is now {state.get(a_original, f'a duplicate of #{a_original}')}, "
            f"#{b_id} {state.get(b_original, f'a duplicate of #{b_original}')}")


def recluster_all(db: sqlite_utils.Database, manual: Manual | None = None,
                  progress: Callable[[str], None] | None = None) -> tuple[int, int, list[int]]:
    """Search and verify the whole archive again from the stored signatures; re-decide every cluster.

    No pixel is read. Returns (photos, verified links, photos whose original changed).
    """
    rows = db.execute("select photo_id, signature, windows from photo_signatures order by photo_id").fetchall()
    ids = [r[0] for r in rows]
    links = find_links(ids, [r[1] for r in rows], [r[2] for r in rows], progress=progress)
    with db.atomic():
        db.execute("delete from duplicate_links")
        db.table("duplicate_links").insert_all(
            ({"photo_id": l.a, "other_id": l.b, "distance": l.distance, "unexplained": round(l.unexplained, 4)}
             for l in links), batch_size=1000)
        apart, joined = manual_constraints(db, manual)
        original = cluster(_copies(db), links, apart, joined)
        changed = save_originals(db, original)
        apply_inheritance(db)
    if progress:
        progress(f"clustered and saved: {len(changed)} photos re-pointed")
    return len(ids), len(links), changed


def find_links(ids: list[int], blobs: list[bytes], stored: list[bytes | None] | None = None,
               workers: int | None = None, progress: Callable[[str], None] | None = None) -> list[Link]:
    """Every verified pair among these photos: each is searched against all the others.

    Two passes, both split over `workers` processes for large archives:
    search every photo (candidate pairs, each once), then verify them.
    """
    global _STATE
    # Window hashes as stored at ingest; computed again only where missing. Signatures are
    # read again when verified: as floats they take 18 KB each.
    stored = stored or [None] * len(ids)
    windows = np.empty((len(ids), len(WINDOWS)), dtype=np.uint64)
    seconds = np.empty_like(windows)
    present = [i for i, packed in enumerate(stored) if packed]
    missing = [i for i, packed in enumerate(stored) if not packed]
    if present:
        both = np.frombuffer(b"".join(stored[i] for i in present), dtype="<u8").reshape(len(present), -1)
        windows[present], seconds[present] = both[:, :len(WINDOWS)], both[:, len(WINDOWS):]
    if missing:
        windows[missing], seconds[missing] = many_window_hashes([blobs[i] for i in missing])
    index = HashIndex(ids, windows[:, 0].tolist(), seconds[:, 0].tolist())
    workers = workers or os.cpu_count() or 1
    parallel = workers > 1 and len(ids) >= PARALLEL_FROM
    tasks = index.join_parts(windows, seconds, parts=2 * workers if parallel else 1)
    _STATE = (ids, blobs, (windows, seconds), index)
    say = progress or (lambda message: None)
    say(f"{len(ids)} photos hashed and indexed")
    try:
        if parallel:
            context = multiprocessing.get_context("fork")  # workers share the index and signatures
            with context.Pool(workers) as pool:
                pairs = _candidate_pairs(*index.join_result(len(WINDOWS), pool.map(_join_part, tasks, 1)))
                say(f"searched: {len(pairs)} candidate pairs")
                found = pool.map(_verify_part, _alike(pairs, blobs, workers * 8), 1)
        else:
            pairs = _candidate_pairs(*index.join_result(len(WINDOWS), [_join_part(task) for task in tasks]))
            say(f"searched: {len(pairs)} candidate pairs")
            found = [_verify_part(part) for part in _alike(pairs, blobs, 1)]
    finally:
        _STATE = None
    say("verified")
    return sorted((link for part in found for link in part), key=lambda l: (l.a, l.b))


PARALLEL_FROM = 5_000   # photos: below this, one process is quicker than starting more
VERIFY_AT_ONCE = 2_048  # candidate pairs verified together (their signatures as floats: ~70 MB)
_STATE: tuple | None = None


def _join_part(task: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    _, _, (windows, seconds), index = _STATE
    window, rows, distances = index.join_part(windows, seconds, *task)
    other = window // windows.shape[1] != rows   # each photo's windows find its own centre
    return window[other], rows[other], distances[other]


def _candidate_pairs(query: np.ndarray, rows: np.ndarray, distances: np.ndarray,
                     which: np.ndarray) -> list[tuple[int, int, int, str]]:
    """(position, position, distance, which is likely the crop) of each candidate pair once, smaller
    position first, at the smaller distance it was found at from either side (then "a" before "b")."""
    # The index was built from `ids` in order: its row is the photo's position.
    other = query != rows
    query, rows, distances, which = query[other], rows[other], distances[other], which[other]
    swap = query > rows
    a, b = np.where(swap, rows, query), np.where(swap, query, rows)
    # The window tells whether the searcher (query) or the stored photo is likely the crop.
    second_inside = _stored_is_crop(which) != swap
    order = np.lexsort((second_inside, distances, b, a))
    a, b, distances, second_inside = a[order], b[order], distances[order], second_inside[order]
    first = np.ones(len(a), dtype=bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    return [(i, j, d, "b" if inside else "a") for i, j, d, inside in
            zip(a[first].tolist(), b[first].tolist(), distances[first].tolist(), second_inside[first].tolist())]


def _alike(pairs: list[tuple[int, int, int, str]], blobs: list[bytes],
           parts: int) -> list[list[tuple[int, int, int, str]]]:
    """The pairs in `parts` runs, pairs of pictures of the same sizes together: `verify_many`
    compares such pairs as one array operation."""
    ordered = sorted(pairs, key=lambda p: (blobs[p[0]][:_HEADER.size], blobs[p[1]][:_HEADER.size]))
    size = max(1, -(-len(ordered) // parts))
    return [ordered[start:start + size] for start in range(0, len(ordered), size)]


def _verify_part(pairs: list[tuple[int, int, int, str]]) -> list[Link]:
    ids, blobs, _, _ = _STATE
    links = []
    for start in range(0, len(pairs), VERIFY_AT_ONCE):
        part = pairs[start:start + VERIFY_AT_ONCE]
        signatures = {i: read_signature(blobs[i]) for pair in part for i in pair[:2]}
        matches = verify_many([(signatures[i], signatures[j], inside) for i, j, _, inside in part])
        links += [Link(ids[i], ids[j], distance, match.unexplained)
                  for (i, j, distance, _), match in zip(part, matches) if match.duplicate]
    return links
