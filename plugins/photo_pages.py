"""Template data for the gallery pages: a photo's page, the photos of a car, event,
session or photographer, and the latest photos on the front page.

The templates (templates/row.html, index.html) render what this returns; the
queries read only archive.db, the published database.
"""

from __future__ import annotations

import json
import urllib.parse
from datetime import datetime
from fractions import Fraction

from datasette import hookimpl
from datasette.utils import path_with_replaced_args, tilde_encode, urlsafe_components

PREVIEW_SIZE = 1600  # long side of a preview, as made by ingest.previews
TILE = ("p.id, p.sha256, p.title, p.credit, p.file_name, p.taken_at_local, p.event_name, "
        "p.session_name, p.thumbnail_width, p.thumbnail_height")
RECENT = 12
# Facets in the order members look for a photo, with the names they read.
FACET_LABELS = {
    "event_id": "Event", "session_id": "Session", "car": "Car", "colour": "Colour",
    "photographer_id": "Photographer", "camera_model": "Camera", "camera_make": "Camera maker",
    "format": "Format", "lens": "Lens",
}

# Row pages that list photos: table -> (where, gallery filter argument, group, order).
RELATED = {
    "cars": ("p.id in (select photo_id from photo_cars where car_id = :key)", "_car",
             "coalesce(e.name, 'Not at a register event')", "e.start is null, e.start desc, p.taken_at_local"),
    "events": ("p.event_id = :key", "event_id",
               "coalesce(s.name, 'Outside the sessions')", "s.start is null, s.start, p.taken_at_local"),
    "sessions": ("p.session_id = :key", "session_id", "null", "p.taken_at_local"),
    "photographers": ("p.photographer_id = :key", "photographer_id",
                      "coalesce(e.name, 'Not at a register event')", "e.start is null, e.start desc, p.taken_at_local"),
}


@hookimpl
def extra_template_vars(template, database, table, view_name, request, datasette):
    async def inner():
        db = await photos_database(datasette)
        context = {
            "gallery_database": db.name if db else None,
            "facet_labels": FACET_LABELS,
            "thumb_url": lambda sha256: datasette.urls.path(f"-/thumb/{sha256}.webp"),
            "preview_url": lambda sha256: datasette.urls.path(f"-/preview/{sha256}.webp"),
            # This page's URL with some arguments replaced (None removes one).
            "with_args": lambda args: path_with_replaced_args(request, args) if request else "",
        }
        if db is None:
            return context
        if view_name == "index":
            context["recent_photos"] = await recent_photos(db)
        elif view_name == "row" and database == db.name and request is not None:
            key = urlsafe_components(request.url_vars["pks"])[0]
            if table == "photos":
                context["photo"] = await photo_details(datasette, db, key)
            elif table in RELATED:
                context["related_photos"] = await related_photos(datasette, db, table, key)
        return context

    return inner


async def photos_database(datasette):
    for name, db in datasette.databases.items():
        if name != "_internal" and await db.table_exists("photos"):
            return db
    return None


async def recent_photos(db) -> list:
    sql = f"select {TILE} from photos p where p.duplicate_of is null order by p.ingested_at desc, p.id desc limit {RECENT}"
    return list((await db.execute(sql)).rows)


async def related_photos(datasette, db, table: str, key: str) -> dict:
    """Every original photo of one car, event, session or photographer, grouped."""
    where, argument, group, order = RELATED[table]
    limit = datasette.setting("max_returned_rows")
    joins = "left join events e on e.id = p.event_id left join sessions s on s.id = p.session_id"
    sql = (f"select {TILE}, {group} as gallery_group from photos p {joins} "
           f"where {where} and p.duplicate_of is null order by {order} limit {limit}")
    rows = list((await db.execute(sql, {"key": key})).rows)
    total = (await db.execute(
        f"select count(*) from photos p where {where} and p.duplicate_of is null", {"key": key})).single_value()
    gallery = datasette.urls.table(db.name, "photos") + "?" + urllib.parse.urlencode({argument: key})
    if table == "cars":
        label_sql = "select car_label(id, nickname, production_number, color) from cars where id = :key"
    else:
        label_sql = f"select name from {table} where id = :key"
    heading = (await db.execute(label_sql, {"key": key})).first()
    return {"rows": rows, "total": total, "gallery_url": gallery,
            "heading": (heading[0] if heading else None) or key}


async def photo_details(datasette, db, key: str) -> dict | None:
    """What a photo's page shows beyond its row: cars, event, photographer, duplicates."""
    row = (await db.execute("select * from photos where id = ?", [key])).first()
    if row is None:
        return None
    photo_id = row["id"]
    cars = [
        {**dict(car), "url": datasette.urls.row(db.name, "cars", tilde_encode(str(car["id"])))}
        for car in (await db.execute(
            "select c.id, car_label(c.id, c.nickname, c.production_number, c.color) as label, c.color, "
            "pc.source, pc.confidence from photo_cars pc join cars c on c.id = pc.car_id "
            "where pc.photo_id = ? order by pc.confidence desc, label", [photo_id])).rows
    ]
    duplicates = list((await db.execute(
        f"select {TILE} from photos p where p.duplicate_of = ? order by p.id", [photo_id])).rows)
    original = None
    if row["duplicate_of"] is not None:
        original = (await db.execute(f"select {TILE} from photos p where p.id = ?", [row["duplicate_of"]])).first()
    details = {
        "id": photo_id,
        "heading": row["title"] or row["file_name"] or f"Photo {photo_id}",
        "cars": cars,
        "duplicates": duplicates,
        "original": original,
        "keywords": json_list(row["keywords"]),
        "camera": camera(row["camera_make"], row["camera_model"]),
        "settings": settings(row["focal_length"], row["f_number"], row["exposure_time"], row["iso"]),
        "taken": taken(row["taken_at_local"]),
        "preview_size": preview_size(row),
        "photographer": await linked(datasette, db, "photographers", row["photographer_id"]),
        "event": await linked(datasette, db, "events", row["event_id"]),
        "session": await linked(datasette, db, "sessions", row["session_id"]),
    }
    return details


async def linked(datasette, db, table: str, key: str | None) -> dict | None:
    """The register entry a photo points to, with its page and its gallery."""
    if key is None:
        return None
    row = (await db.execute(f"select id, name from {table} where id = ?", [key])).first()
    if row is None:
        return None
    argument = RELATED[table][1]
    return {
        "id": row["id"],
        "name": row["name"] or row["id"],
        "url": datasette.urls.row(db.name, table, tilde_encode(str(row["id"]))),
        "gallery_url": datasette.urls.table(db.name, "photos") + "?" + urllib.parse.urlencode({argument: row["id"]}),
    }


def json_list(text: str | None) -> list[str]:
    try:
        values = json.loads(text) if text else []
    except ValueError:
        return []
    return [str(v) for v in values if v] if isinstance(values, list) else []


def camera(make: str | None, model: str | None) -> str | None:
    """'Canon EOS R5', not 'Canon Canon EOS R5'."""
    if model and make and model.lower().startswith(make.split()[0].lower()):
        return model
    return " ".join(part for part in (make, model) if part) or None


def settings(focal_length, f_number, exposure_time, iso) -> str | None:
    """'135 mm · f/4 · 1/1000 s · ISO 800' from whichever values the camera recorded."""
    parts = []
    if focal_length:
        parts.append(f"{focal_length:g} mm")
    if f_number:
        parts.append(f"f/{f_number:g}")
    if exposure_time:
        parts.append(exposure(exposure_time))
    if iso:
        parts.append(f"ISO {iso}")
    return " · ".join(parts) or None


def exposure(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:g} s"
    fraction = Fraction(seconds).limit_denominator(16000)
    if fraction.numerator == 1:
        return f"1/{fraction.denominator} s"
    return f"1/{round(1 / seconds)} s"


def taken(local: str | None) -> str | None:
    """'Saturday 20 September 2025, 10:12' from the corrected local capture time."""
    try:
        moment = datetime.fromisoformat(local) if local else None
    except ValueError:
        return local
    return f"{moment:%A} {moment.day} {moment:%B %Y, %H:%M}" if moment else None


def preview_size(row) -> tuple[int, int] | None:
    """The preview's size, from the thumbnail's shape and the original's long side."""
    tw, th = row["thumbnail_width"], row["thumbnail_height"]
    if not tw or not th:
        return None
    long_side = min(PREVIEW_SIZE, max(row["width"] or 0, row["height"] or 0) or PREVIEW_SIZE)
    scale = long_side / max(tw, th)
    return round(tw * scale), round(th * scale)
