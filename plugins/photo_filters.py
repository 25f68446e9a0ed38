"""Gallery filters on the photos table: ?_car=, ?_colour=, and duplicates hidden by default.

A photo's cars live in photo_cars, so "photos of this car" is not a column
filter; these arguments add the sub-select (the car and colour facets link
to them). Several `_car` values mean photos with all of those cars.

Duplicates (duplicate_of set) stay reachable from their original's page but
are left out of the gallery, its counts and facets, unless the request asks
for them: `?_duplicates=1`, or any filter on duplicate_of itself (the
"Links from other tables" on an original's page).
"""

from __future__ import annotations

from datasette import hookimpl
from datasette.filters import FilterArguments

TRUE = ("1", "on", "true", "yes")


def wants_duplicates(request) -> bool:
    if (request.args.get("_duplicates") or "").lower() in TRUE:
        return True
    return any(key == "duplicate_of" or key.startswith("duplicate_of__") for key in request.args)


@hookimpl
def filters_from_request(request, database, table, datasette):
    if table != "photos":
        return None

    async def inner():
        db = datasette.get_database(database)
        if not await db.table_exists("photo_cars") or not await db.table_exists("cars"):
            return None
        where, params, described = [], {}, []
        for i, car_id in enumerate(request.args.getlist("_car")):
            where.append(f"id in (select photo_id from photo_cars where car_id = :gallery_car{i})")
            params[f"gallery_car{i}"] = car_id
            row = (await db.execute(
                "select car_label(id, nickname, production_number, color) from cars where id = ?",
                [car_id])).first()
            described.append(f"car is {row[0] if row else car_id}")
        for i, colour in enumerate(request.args.getlist("_colour")):
            # photo_cars.color is cars.color, copied by a trigger (ingest/db.py) and indexed with photo_id.
            where.append(f"id in (select photo_id from photo_cars where color = :gallery_colour{i})")
            params[f"gallery_colour{i}"] = colour
            described.append(f"a car is {colour}")
        hidden = not wants_duplicates(request)
        if hidden:
            where.append("duplicate_of is null")
        return FilterArguments(where, params, described, extra_context={"duplicates_hidden": hidden})

    return inner
