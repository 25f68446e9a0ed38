"""Table cells that show pictures: a photo's `thumbnail` BLOB and a map query's `popup`.

The image is fetched by URL (/-/thumb/<sha256>.webp), never inlined, so a
page of a hundred rows stays small and the browser caches every thumbnail.
"""

from __future__ import annotations

import json
import re

from datasette import hookimpl
from markupsafe import Markup, escape


@hookimpl
def render_cell(row, value, column, table, datasette):
    keys = row.keys() if hasattr(row, "keys") else []
    if column == "thumbnail" and isinstance(value, bytes) and "sha256" in keys and row["sha256"]:
        src = datasette.urls.path(f"-/thumb/{row['sha256']}.webp")
        size = ""
        if "thumbnail_width" in keys and row["thumbnail_width"]:
            size = f' width="{int(row["thumbnail_width"]) // 2}" height="{int(row["thumbnail_height"]) // 2}"'
        return Markup(f'<img class="cell-thumbnail" src="{escape(src)}" alt="" loading="lazy"{size}>')
    if column == "popup" and table is None and isinstance(value, str):
        return popup(value)
    return None


def popup(value: str) -> Markup | None:
    """A cluster-map popup ({image, title, description, link}) as a small linked thumbnail."""
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if not isinstance(data, dict) or not safe_url(data.get("image")):
        return None
    image = f'<img class="cell-thumbnail" src="{escape(data["image"])}" alt="" loading="lazy" width="120">'
    title = escape(data.get("title") or "")
    if safe_url(data.get("link")):
        return Markup(f'<a href="{escape(data["link"])}">{image}<br>{title}</a>')
    return Markup(f"{image}<br>{title}")


def safe_url(url) -> bool:
    """A relative or http(s) URL: arbitrary SQL must not be able to make a javascript: link."""
    if not isinstance(url, str) or not re.fullmatch(r"[^\s\x00-\x1f\"'<>\\]+", url):
        return False
    scheme = re.match(r"([a-z][a-z0-9+.-]*):", url, re.I)
    return scheme is None or scheme.group(1).lower() in ("http", "https")
