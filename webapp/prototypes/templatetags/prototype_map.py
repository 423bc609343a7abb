"""SVG layout of a ``prototype_map`` payload: colours by prototype, radius by votes, y pointing up."""

from __future__ import annotations

import math
from typing import Any

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()

#: colour-blind-safe palette (Okabe–Ito), indexed by prototype key
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
UNASSIGNED = "#9a9aa8"


def prototype_colour(key: int | None) -> str:
    return UNASSIGNED if key is None else PALETTE[int(key) % len(PALETTE)]


def point_radius(votes: int) -> float:
    """Radius in map units (the map spans ±1.2): grows with the square root of the votes, capped."""
    return round(min(0.018 + 0.008 * math.sqrt(max(int(votes), 0)), 0.07), 4)


def _point_svg(p: dict[str, Any], names: dict[int, str]) -> str:
    """One user's circle with its tooltip; built here rather than in a template loop, which is ~10x slower and
    the map is re-rendered on every pushed update."""
    colour = prototype_colour(p["prototype_key"])
    votes = int(p["votes"])
    title = f"{p['label']} · {votes} vote{'' if votes == 1 else 's'} · {names.get(p['prototype_key'], 'no prototype yet')}"
    if p.get("summary"):
        title += f"\n{p['summary']}"
    key = "" if p["prototype_key"] is None else int(p["prototype_key"])
    return (f'<circle class="map-point" data-testid="map-point" data-user="{int(p["user_id"])}" '
            f'data-prototype="{key}" cx="{float(p["x"]):.4f}" cy="{-float(p["y"]):.4f}" r="{point_radius(votes):.4f}" '
            f'fill="{colour}" fill-opacity=".7" stroke="{colour}" stroke-width=".004"><title>{escape(title)}</title>'
            f"</circle>")


@register.simple_tag
def map_layout(payload: dict[str, Any]) -> dict[str, Any]:
    """The users' circles as one SVG string (``points_svg``) and the prototype centres with SVG coordinates
    (``cx``, ``cy``, y pointing up), ``colour`` and a label position."""
    names = {p["key"]: p["name"] for p in payload.get("prototypes", [])}
    points_svg = mark_safe("\n".join(_point_svg(p, names) for p in payload.get("points", [])))  # escaped or numeric
    prototypes = [
        {**p, "cx": f"{p['x']:.4f}", "cy": f"{-p['y']:.4f}", "colour": prototype_colour(p["key"]),
         "label_y": f"{-p['y'] - 0.06:.4f}"}
        for p in payload.get("prototypes", [])
    ]
    return {"points_svg": points_svg, "prototypes": prototypes}


@register.simple_tag
def sparkline_points(trend: list[Any], width: int = 300, height: int = 60) -> list[tuple[str, str]]:
    """(x, y) in the box for the ``size`` of each trend point, left to right (a single run sits in the middle)."""
    sizes = [int(t.size) for t in trend]
    if not sizes:
        return []
    top = max(max(sizes), 1)
    step = width / max(len(sizes) - 1, 1)
    return [(f"{i * step if len(sizes) > 1 else width / 2:.1f}", f"{height - 4 - (height - 8) * s / top:.1f}")
            for i, s in enumerate(sizes)]


@register.simple_tag
def sparkline(trend: list[Any], width: int = 300, height: int = 60) -> str:
    """SVG polyline points for the ``size`` of each trend point."""
    return " ".join(f"{x},{y}" for x, y in sparkline_points(trend, width, height))
