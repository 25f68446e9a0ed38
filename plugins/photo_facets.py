"""The gallery's facets, counted together: `{gallery: [event_id, session_id, car, ...]}`.

Names are columns of photos (counted and linked as Datasette's column facets
are, labelled through their foreign keys) or `car` and `colour`: a photo can
show several cars, kept in photo_cars, so those count through that table and
link to `?_car=` / `?_colour=` (plugins/photo_filters.py).

Why not Datasette's column facets: each of them runs the page's selection
again. A search or a filter finds its photos by looking each one up (24,000
lookups, ~20 ms, for a popular car's name); here the selection is read once
for every facet (twice, in parallel: the columns' facets, and the cars' and
colours' from photo_cars). The whole gallery (every original) is read from indexes
alone instead: each count from its own index (ingest/db.py), in parallel.
"""

from __future__ import annotations

import asyncio
import urllib.parse

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.facets import Facet
from datasette.utils import path_with_added_args, path_with_removed_args, tilde_decode

# Facets over photo_cars: (column, count, the argument that selects a value). A photo
# with two orange cars is one orange photo: colours count distinct photos.
CARS = {"car": ("car_id", "count(*)", "_car"), "colour": ("color", "count(distinct pc.photo_id)", "_colour")}
ORIGINALS = "(select * from photos where duplicate_of is null)"
COPIES = "(select * from photos where duplicate_of is not null)"


def facet_sql(name: str, photos: str | None) -> str:
    """(facet, value, n) of one facet over `photos` (a table or subquery with id and the
    facet columns), or over every photo."""
    if name in CARS:
        column, count, _ = CARS[name]
        within = f"pc.photo_id in (select id from {photos}) and " if photos else ""
        return (f"select '{name}' as facet, pc.{column} as value, {count} as n from photo_cars pc "
                f"where {within}pc.{column} is not null group by pc.{column}")
    return (f"select '{name}' as facet, [{name}] as value, count(*) as n from {photos or 'photos'} "
            f"where [{name}] is not null group by [{name}]")


def whole_gallery_sql(name: str, originals_only: bool) -> str:
    """One facet of the whole gallery (every original, or every photo) from indexes alone; a
    plain count would look up all 200,000 photos (~0.2 s) or read the whole table."""
    if name in CARS:  # photo_cars' own indexes: every photo's counts, minus the duplicates'
        every = facet_sql(name, None)
        return combined(every, facet_sql(name, COPIES), "-") if originals_only else every
    originals = facet_sql(name, ORIGINALS)  # the partial index of originals on the column
    if originals_only:
        return originals
    # Plus the duplicates', found by id: the column's own index would be walked over every photo.
    return combined(originals, facet_sql(name, f"(select * from photos where id in (select id from {COPIES}))"), "+")


def without_cursor(where: str) -> str:
    """The where clause without the ?_next= cursor, which Datasette appends last, in parentheses."""
    depth, start = 0, len(where)
    for start in range(len(where) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(where[start], 0)
        if depth == 0:
            break
    head = where[:start].rstrip()
    if not where.endswith(")") or not head.endswith((" and", "where")):
        return where
    return head.removesuffix(" and") if head != "where" else ""


def combined(counts: str, others: str, sign: str) -> str:
    return (f"select facet, value, sum(n) as n from ({counts} union all select facet, value, {sign}n "
            f"from ({others})) group by value having sum(n) > 0")


class GalleryFacets(Facet):
    type = "gallery"

    async def facet_results(self):
        if self.table != "photos":
            return [], []
        columns = set(await self.ds.get_database(self.database).table_columns("photos"))
        wanted = {}  # name -> where it was asked for
        for source_and_config in self.get_configs():
            config = source_and_config["config"]
            for name in config if isinstance(config, list) else [config["simple"]]:
                if name in CARS or name in columns:  # names go into SQL: nothing else is accepted
                    wanted.setdefault(name, source_and_config["source"])
        if not wanted:
            return [], []
        counted, timed_out = await self.counts(list(wanted))
        size = self.get_facet_size()
        results = list(await asyncio.gather(*(self.facet(name, source, counted[name], size)
                                              for name, source in wanted.items() if name in counted)))
        return results, timed_out

    async def counts(self, names: list[str]) -> tuple[dict[str, list], list[str]]:
        """{name: rows (facet, value, n)} of the facets that finished, and those that timed out."""
        columns, _, where = self.sql.partition(" from photos ")
        where = where.strip()
        if "_next" in self.request.args:  # the same counts on every page (Datasette: the photos after it)
            where = without_cursor(where)
        sql = f"{columns} from photos {where}"
        limit = self.ds.setting("facet_time_limit_ms")
        if where in ("", "where duplicate_of is null"):  # the whole gallery, with or without duplicates
            found = await asyncio.gather(*(self.rows(whole_gallery_sql(name, where != ""), limit) for name in names))
        else:
            # The selection is read once per group, not once per facet, and the two groups run in
            # parallel: the column facets from the selection's rows, the cars and colours from
            # photo_cars (its ids alone). Most of each is looking the selected photos up by id.
            groups = [group for group in ([name for name in names if name not in CARS],
                                          [name for name in names if name in CARS]) if group]
            answers = await asyncio.gather(*(self.rows(
                f"with selected as materialized (select id{''.join(f', [{n}]' for n in group if n not in CARS)} "
                f"from ({sql})) " + " union all ".join(facet_sql(name, "selected") for name in group),
                limit * len(group)) for group in groups))
            by_group = {name: rows for group, rows in zip(groups, answers) for name in group}
            found = [None if by_group[name] is None else [r for r in by_group[name] if r["facet"] == name]
                     for name in names]
        return ({name: rows for name, rows in zip(names, found) if rows is not None},
                [name for name, rows in zip(names, found) if rows is None])

    async def rows(self, sql: str, time_limit: int) -> list | None:
        """The rows, or None when the query ran out of time."""
        try:
            return (await self.ds.execute(self.database, sql, self.params, truncate=False,
                                          custom_time_limit=time_limit)).rows
        except QueryInterrupted:
            return None

    async def facet(self, name: str, source: str, rows: list, size: int) -> dict:
        """One facet as Datasette shows it: values by count, with links that select or unselect them."""
        argument = CARS[name][2] if name in CARS else (f"{name}__exact" if name.startswith("_") else name)
        rows = sorted(rows, key=lambda r: (-r["n"], str(r["value"])))
        shown = rows[:size]
        labels = await self.labels(name, [r["value"] for r in shown])
        chosen = set(self.request.args.getlist(argument))
        results = []
        for row in shown:
            value = str(row["value"])
            if value in chosen:
                path = path_with_removed_args(self.request, {argument: value})
            else:
                path = path_with_added_args(self.request, {argument: value, "_next": None})
            results.append({
                "value": row["value"],
                "label": labels.get(row["value"], row["value"]),
                "count": row["n"],
                "toggle_url": self.ds.absolute_url(self.request, self.ds.urls.path(path)),
                "selected": value in chosen,
            })
        return {
            "name": name,
            "type": name if name in CARS else "column",
            "hideable": source != "metadata",
            "toggle_url": self.ds.urls.path(path_with_removed_args(self.request, {"_facet_gallery": name})),
            "results": results,
            "truncated": len(rows) > size,
        }

    async def labels(self, name: str, values: list) -> dict:
        """What members read for the shown values: a car's name, a column's foreign-key label."""
        if name == "car":
            marks = ", ".join("?" * len(values))
            return dict((await self.ds.execute(self.database, "select id, car_label(id, nickname, production_number, "
                                               f"color) from cars where id in ({marks})", values)).rows)
        if name in CARS:
            return {}
        expanded = await self.ds.expand_foreign_keys(self.database, "photos", name, values)
        return {value: label for (_, value), label in expanded.items()}


@hookimpl
def register_facet_classes():
    return [GalleryFacets]


@hookimpl
def asgi_wrapper(datasette):
    """`?_facet=event_id` on a table whose metadata.yml facets already count event_id:
    Datasette would count it again and show it twice, so the argument is dropped."""

    def wrap(app):
        async def without_repeated_facets(scope, receive, send):
            if scope["type"] == "http" and b"_facet=" in scope.get("query_string", b""):
                scope = drop_configured_facets(datasette, scope)
            await app(scope, receive, send)

        return without_repeated_facets

    return wrap


def drop_configured_facets(datasette, scope: dict) -> dict:
    parts = scope["path"].strip("/").split("/")
    if len(parts) != 2:
        return scope
    table = tilde_decode(parts[1].removesuffix(".json"))
    configured = set()
    for facet in datasette.table_metadata(tilde_decode(parts[0]), table).get("facets") or []:
        for config in ([facet] if isinstance(facet, str) else facet.values()):
            configured.update([config] if isinstance(config, str) else config)
    args = scope["query_string"].split(b"&")  # the other arguments are kept byte for byte
    kept = [arg for arg in args if not (arg.startswith(b"_facet=") and
                                        urllib.parse.unquote_plus(arg[7:].decode("latin-1")) in configured)]
    return {**scope, "query_string": b"&".join(kept)} if len(kept) < len(args) else scope
