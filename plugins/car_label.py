"""SQL function car_label(id, nickname, production_number, color): how a car is named on the site.

One definition for facets, filters, pages and the canned queries in
metadata.yml: 'Green Mamba (#42)', '#1203 Valencia Orange', or the register id.
"""

from __future__ import annotations

from datasette import hookimpl


def car_label(car_id, nickname, production_number, color) -> str | None:
    number = f"#{production_number}" if production_number not in (None, "") else None
    if nickname and number:
        return f"{nickname} ({number})"
    if nickname:
        return str(nickname)
    if number:
        return f"{number} {color}" if color else number
    return None if car_id is None else str(car_id)


@hookimpl
def prepare_connection(conn):
    conn.create_function("car_label", 4, car_label, deterministic=True)
