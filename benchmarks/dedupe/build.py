"""Build the labelled near-duplicate benchmark from the real photos in ../shared/corpus.

    python benchmarks/dedupe/build.py [--corpus ../shared/corpus/exif-samples] [--out benchmarks/dedupe/data]

Every distinct corpus picture becomes a *master*, 3200 px on its long side
(most corpus files are web-sized camera samples, 100-640 px, so they are
upscaled: that adds no detail, and the tiny ones are the hardest cases, with
few details to tell them apart). The *base* photo is a window of the master
(75 % x 82 %), so that burst frames can show what lies beside it. From each
base come its true duplicates and, from its master, its hard negatives:

duplicates  web exports (2048 and 1080 px), JPEG q60 and q95, WebP, HEIC,
            crops of 3 %, 6 % and 10 % (one side, a corner, centred), the
            rotation stored in the pixels plus an EXIF Orientation tag (6, 8
            and 3) instead of upright pixels, metadata stripped, a corner
            watermark, brightness and contrast changes, a member's re-share
            (cropped, watermarked, recompressed, stripped)
negatives   burst frames: the framing shifted by 10 % (left), 15 % (10 % right and
            11 % down) and 20 % (right), at least 10 % from each other; an object moved (two regions swapped); an object moved
            while the camera moved 3 %. Other photos of similar colour are
            the other bases (the closest pairs are reported on their own).

Writes data/<base>/<variant>.<ext> and data/manifest.json. Deterministic: the
same corpus gives the same files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ingest.sample_photos import Meta, save_photo  # noqa: E402

import pillow_heif  # noqa: E402

pillow_heif.register_heif_opener()

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "exif-samples"
MASTER = 3200
BASE_WINDOW = (0.10, 0.09, 0.85, 0.91)   # x0, y0, x1, y1 of the master
SUFFIXES = {".jpg", ".jpeg", ".heic", ".heif", ".tif", ".tiff", ".png", ".webp"}
# Not pictures to deduplicate: the same scene again with another digit painted on
# (the orientation samples: one landscape and one portrait are kept), a file
# broken on purpose, and a flat blue rectangle (no picture at all).
SKIP = {"landscape_3", "landscape_5", "landscape_7", "portrait_4", "portrait_6", "portrait_8",
        "corrupted", "BlueSquare"}


def sources(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*") if p.suffix.lower() in SUFFIXES and p.stem not in SKIP)


def base_name(path: Path, corpus: Path) -> str:
    return "_".join(path.relative_to(corpus).with_suffix("").parts)


def half_of(name: str) -> str:
    """A fixed split by name: the tuning half and the held-out half."""
    return "tune" if hashlib.sha256(name.encode()).digest()[0] % 2 == 0 else "test"


def master_of(path: Path) -> Image.Image:
    image = ImageOps.exif_transpose(Image.open(path))
    if image.mode in ("RGBA", "LA", "P"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    image = image.convert("RGB")
    scale = MASTER / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)


def window(image: Image.Image, x0: float, y0: float, x1: float, y1: float) -> Image.Image:
    w, h = image.size
    return image.crop((round(x0 * w), round(y0 * h), round(x1 * w), round(y1 * h)))


def resized(image: Image.Image, long_side: int) -> Image.Image:
    scale = long_side / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)


def camera_meta(name: str, seconds: int = 0, orientation: int | None = None) -> Meta:
    return Meta(make="Nikon", model="D850", serial="083024001234", lens="24-70mm",
                taken_at=datetime(2025, 9, 20, 10, 0, seconds), offset="+02:00",
                orientation=orientation, artist="Benchmark Photographer",
                copyright=f"(c) Benchmark Photographer, {name}")


def watermark(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A semi-transparent credit in a corner: about 18 % of the width, 3 % of the height."""
    out = image.convert("RGBA")
    layer = Image.new("RGBA", out.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = max(8, round(out.height * 0.03))
    font = ImageFont.load_default(size=size)
    text = "© 1M Register"
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad = size // 3
    corner = int(rng.integers(4))
    x = pad * 2 if corner in (0, 2) else out.width - (right - left) - 3 * pad
    y = pad * 2 if corner in (0, 1) else out.height - (bottom - top) - 3 * pad
    draw.rectangle((x - pad, y - pad, x + right - left + pad, y + bottom - top + pad), fill=(0, 0, 0, 90))
    draw.text((x - left, y - top), text, font=font, fill=(255, 255, 255, 190))
    return Image.alpha_composite(out, layer).convert("RGB")


def crop_fraction(image: Image.Image, left: float, top: float, right: float, bottom: float) -> Image.Image:
    return window(image, left, top, 1 - right, 1 - bottom)


def swap_regions(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """'An object moved': two regions of 18 % x 22 % of the frame trade places.

    Of 24 random placements, the pair that differs most is swapped: an object
    that moves is visible, swapping sky for sky would change nothing.
    """
    out = image.copy()
    w, h = out.size
    pw, ph = round(0.18 * w), round(0.22 * h)
    grey = np.asarray(out.convert("L").resize((64, 64)), dtype=np.float32)

    def patch(x: int, y: int) -> np.ndarray:
        top, left = y * 64 // h, x * 64 // w
        return grey[top:top + round(0.22 * 64), left:left + round(0.18 * 64)]

    tries = [(int(rng.integers(0, w // 2 - pw)), int(rng.integers(0, h - ph)),
              int(rng.integers(w // 2, w - pw)), int(rng.integers(0, h - ph))) for _ in range(24)]
    x1, y1, x2, y2 = max(tries, key=lambda t: float(np.abs(patch(t[0], t[1]) - patch(t[2], t[3])).mean()))
    a = out.crop((x1, y1, x1 + pw, y1 + ph))
    b = out.crop((x2, y2, x2 + pw, y2 + ph))
    out.paste(b, (x1, y1))
    out.paste(a, (x2, y2))
    return out


def variants(name: str, master: Image.Image) -> list[tuple[str, str, Image.Image, Meta | None, str, int]]:
    """(variant, kind, image, metadata, format, quality); kind is 'base', 'duplicate' or 'negative'."""
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little"))
    x0, y0, x1, y1 = BASE_WINDOW
    base = window(master, x0, y0, x1, y1)
    meta = camera_meta(name)
    bw = x1 - x0
    bh = y1 - y0

    def shifted(dx: float, dy: float) -> Image.Image:
        return window(master, x0 + dx * bw, y0 + dy * bh, x1 + dx * bw, y1 + dy * bh)

    def split(total: float) -> tuple[float, float]:
        first = float(rng.uniform(0, total))
        return first, total - first

    cl, cr = split(0.03)
    ct, cb = split(0.03)
    sl, sr = split(0.06)
    st, sb = split(0.06)
    # Stored turned the other way; the tag tells a viewer (and the archive) to turn it back.
    rotate_6 = base.transpose(Image.Transpose.ROTATE_90)
    rotate_8 = base.transpose(Image.Transpose.ROTATE_270)
    rotate_3 = base.transpose(Image.Transpose.ROTATE_180)
    reshare = watermark(resized(crop_fraction(base, 0.02, 0.03, 0.03, 0.02), 1080), rng)
    return [
        ("base", "base", base, meta, "JPEG", 92),
        ("web-2048", "duplicate", resized(base, 2048), meta, "JPEG", 90),
        ("web-1080", "duplicate", resized(base, 1080), meta, "JPEG", 85),
        ("jpeg-q60", "duplicate", resized(base, 1600), None, "JPEG", 60),
        ("jpeg-q95", "duplicate", base, None, "JPEG", 95),
        ("webp", "duplicate", resized(base, 1600), None, "WEBP", 80),
        ("heic", "duplicate", resized(base, 1600), None, "HEIF", 70),
        ("crop-3", "duplicate", resized(crop_fraction(base, cl, ct, cr, cb), 1600), meta, "JPEG", 88),
        ("crop-6", "duplicate", resized(crop_fraction(base, sl, st, sr, sb), 1600), meta, "JPEG", 88),
        ("crop-10-side", "duplicate", resized(crop_fraction(base, *(
            (0.1, 0, 0, 0), (0, 0, 0.1, 0), (0, 0.1, 0, 0), (0, 0, 0, 0.1))[int(rng.integers(4))]), 1600),
            None, "JPEG", 85),
        ("crop-10-corner", "duplicate", resized(crop_fraction(base, *(
            (0.1, 0.1, 0, 0), (0, 0, 0.1, 0.1), (0.1, 0, 0, 0.1), (0, 0.1, 0.1, 0))[int(rng.integers(4))]), 1600),
            None, "JPEG", 85),
        ("crop-10-centred", "duplicate", resized(crop_fraction(base, 0.05, 0.05, 0.05, 0.05), 1600),
            None, "JPEG", 85),
        ("orientation-6", "duplicate", rotate_6, camera_meta(name, orientation=6), "JPEG", 92),
        ("orientation-8", "duplicate", resized(rotate_8, 2048), camera_meta(name, orientation=8), "JPEG", 90),
        ("orientation-3", "duplicate", resized(rotate_3, 1600), camera_meta(name, orientation=3), "JPEG", 90),
        ("stripped", "duplicate", base, None, "JPEG", 90),
        ("watermark", "duplicate", watermark(resized(base, 1600), rng), None, "JPEG", 88),
        ("brighter", "duplicate", ImageEnhance.Brightness(resized(base, 1600)).enhance(1.12), None, "JPEG", 88),
        ("darker", "duplicate", ImageEnhance.Brightness(resized(base, 1600)).enhance(0.9), None, "JPEG", 88),
        ("contrast", "duplicate", ImageEnhance.Contrast(resized(base, 1600)).enhance(1.15), None, "JPEG", 88),
        ("reshare", "duplicate", reshare, None, "JPEG", 75),
        ("burst-shift-10", "negative", shifted(-0.10, 0.0), camera_meta(name, 1), "JPEG", 92),
        ("burst-shift-15", "negative", shifted(0.10, 0.11), camera_meta(name, 2), "JPEG", 92),
        ("burst-shift-20", "negative", shifted(0.20, 0.0), camera_meta(name, 3), "JPEG", 92),
        ("burst-moved", "negative", swap_regions(base, rng), camera_meta(name, 4), "JPEG", 92),
        ("burst-moved-panned", "negative", swap_regions(shifted(0.03, 0.0), rng), camera_meta(name, 5),
            "JPEG", 92),
    ]


EXTENSIONS = {"JPEG": ".jpg", "WEBP": ".webp", "HEIF": ".heic"}


def build_one(args: tuple[str, str, str, bool]) -> list[dict]:
    source, name, out, rebuild = args
    master = master_of(Path(source))
    rows = []
    for variant, kind, image, meta, fmt, quality in variants(name, master):
        path = Path(out) / name / f"{variant}{EXTENSIONS[fmt]}"
        if not path.exists() or rebuild:
            save_photo(image, path, meta, format=fmt, quality=quality)
        rows.append({"file": str(path.relative_to(out)), "base": name, "variant": variant, "kind": kind,
                     "half": half_of(name), "source": source})
    return rows


def build(corpus: Path, out: Path, workers: int, rebuild: bool = False) -> list[dict]:
    """Write the photos (only the missing ones unless `rebuild`) and the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(str(p), base_name(p, corpus), str(out), rebuild) for p in sources(corpus)]
    with ProcessPoolExecutor(workers) as pool:
        rows = [row for result in pool.map(build_one, jobs) for row in result]
    (out / "manifest.json").write_text(json.dumps({"corpus": str(corpus), "photos": rows}, indent=1))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--out", type=Path, default=HERE / "data")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rebuild", action="store_true", help="Rewrite photos that already exist")
    args = parser.parse_args()
    rows = build(args.corpus, args.out, args.workers, args.rebuild)
    bases = len({r["base"] for r in rows})
    print(f"{len(rows)} photos from {bases} corpus pictures in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
