"""SVG layout of a ``prototype_map`` payload: colours by prototype, radius by votes, y pointing up."""

from __future__ import annotations

import math
from typing import Any

from django import template

register = template.Library()

#: colour-blind-safe palette (Okabe–Ito), indexed by prototype key
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
UNASSIGNED = "#9a9aa8"


def prototype_colour(key: int | None) -> str:
    return UNASSIGNED if key is None else PALETTE[int(key) % len(PALETTE)]


def point_radius(votes: int) -> float:
    """Radius in map units (the map spans ±1.2): grows with the square root of the votes, capped."""
    return round(min(0.018 + 0.008 * math.sqrt(max(int(votes), 0)), 0.07), 4)


@register.simple_tag
def map_layout(payload: dict[str, Any]) -> dict[str, Any]:
    """Points and prototype centres with SVG coordinates (``cx``, ``cy``), ``r``, ``colour`` and names."""
    names = {p["key"]: p["name"] for p in payload.get("prototypes", [])}
    points = [
        {**p, "cx": f"{p['x']:.4f}", "cy": f"{-p['y']:.4f}", "r": f"{point_radius(p['votes']):.4f}",
         "colour": prototype_colour(p["prototype_key"]),
         "prototype_name": names.get(p["prototype_key"], "no prototype yet")}
        for p in payload.get("points", [])
    ]
    prototypes = [
        {**p, "cx": f"{p['x']:.4f}", "cy": f"{-p['y']:.4f}", "colour": prototype_colour(p["key"]),
         "label_y": f"{-p['y'] - 0.06:.4f}"}
        for p in payload.get("prototypes", [])
    ]
    return {"points": points, "prototypes": prototypes}


@register.simple_tag
def sparkline(trend: list[Any], width: int = 300, height: int = 60) -> str:
    """SVG polyline points for the ``size`` of each trend point, left to right, scaled to the box."""
    sizes = [int(t.size) for t in trend]
    if not sizes:
        return ""
    top = max(max(sizes), 1)
    step = width / max(len(sizes) - 1, 1)
    return " ".join(f"{i * step:.1f},{height - 4 - (height - 8) * s / top:.1f}" for i, s in enumerate(sizes))
