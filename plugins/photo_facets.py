"""Facets over a photo's cars: `car` (by register car, labelled by name) and `colour`.

A photo can show several cars, kept in photo_cars, so these facets count
through that table instead of a column; their links add `?_car=` or
`?_colour=`, which plugins/photo_filters.py turns into the filter. Enable
them in metadata.yml: `facets: [{car: car}, {colour: colour}]`.
"""

from __future__ import annotations

import urllib.parse

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.facets import Facet
from datasette.utils import path_with_added_args, path_with_removed_args


class PhotoCarsFacet(Facet):
    """Counts the photos of the current selection per value of `value_sql` over their cars."""

    type = "photo_cars"
    argument = ""     # the query-string argument that selects a value
    value_sql = ""    # SQL over cars `c` for the facet value
    label_sql = ""    # SQL over cars `c` for what members read

    async def suggest(self):
        return []

    async def facet_results(self):
        if self.table != "photos" or not self.get_configs():
            return [], []
        facet_size = self.get_facet_size()
        sql = f"""
            select {self.value_sql} as value, {self.label_sql} as label,
                count(distinct pc.photo_id) as count
            from photo_cars pc join cars c on c.id = pc.car_id
            where pc.photo_id in (select id from ({self.sql}))
                and {self.value_sql} is not null
            group by {self.value_sql}
            order by count desc, label
            limit {facet_size + 1}
        """
        try:
            rows = await self.ds.execute(
                self.database, sql, self.params, truncate=False,
                custom_time_limit=self.ds.setting("facet_time_limit_ms"),
            )
        except QueryInterrupted:
            return [], [self.type]
        selected_values = {
            value for key, value in urllib.parse.parse_qsl(self.request.query_string, keep_blank_values=True)
            if key == self.argument
        }
        results = []
        for row in rows.rows[:facet_size]:
            value = str(row["value"])
            selected = value in selected_values
            if selected:
                path = path_with_removed_args(self.request, {self.argument: value})
            else:
                path = path_with_added_args(self.request, {self.argument: value, "_next": None})
            results.append({
                "value": value,
                "label": row["label"],
                "count": row["count"],
                "toggle_url": self.ds.absolute_url(self.request, self.ds.urls.path(path)),
                "selected": selected,
            })
        return [{
            "name": self.type,
            "type": self.type,
            "hideable": False,
            "toggle_url": self.ds.urls.path(path_with_removed_args(self.request, {f"_facet_{self.type}"})),
            "results": results,
            "truncated": len(rows.rows) > facet_size,
        }], []


class CarFacet(PhotoCarsFacet):
    type = "car"
    argument = "_car"
    value_sql = "c.id"
    label_sql = "car_label(c.id, c.nickname, c.production_number, c.color)"


class ColourFacet(PhotoCarsFacet):
    type = "colour"
    argument = "_colour"
    value_sql = "c.color"
    label_sql = "c.color"


@hookimpl
def register_facet_classes():
    return [CarFacet, ColourFacet]
