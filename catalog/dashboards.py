"""Plotly figures for the catalog pages: pure functions from selector output to figure dicts."""

import json
import math

import plotly.graph_objects as go

from catalog.models import Sensitivity

SENSITIVITY_COLOURS: dict[str, str] = {
    Sensitivity.PUBLIC: "#2e7d32",
    Sensitivity.INTERNAL: "#1565c0",
    Sensitivity.CONFIDENTIAL: "#e65100",
    Sensitivity.RESTRICTED: "#c62828",
}
MIN_MARKER_PX = 9
MAX_MARKER_PX = 46
# The base map plotly.js draws for scope "world" at resolution 110; datamap.js loads it locally.
TOPOJSON_NAME = "world_110m"


def country_summary(row: dict) -> str:
    """'Germany: 12 datasets (3 restricted, 9 internal)', most sensitive first."""
    counts = row["by_sensitivity"]
    parts = [
        f"{counts[level]} {level}" for level in reversed(Sensitivity.values) if counts.get(level)
    ]
    noun = "dataset" if row["total"] == 1 else "datasets"
    return f"{row['name']}: {row['total']} {noun} ({', '.join(parts)})"


def marker_size(count: int, largest: int) -> float:
    """A marker's diameter in pixels; its area, not its width, grows with the count."""
    if largest <= 0:
        return MIN_MARKER_PX
    return round(MIN_MARKER_PX + (MAX_MARKER_PX - MIN_MARKER_PX) * math.sqrt(count / largest), 1)


def _translucent(hex_colour: str, alpha: float) -> str:
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _totals_trace(rows: list[dict]) -> go.Choropleth:
    return go.Choropleth(
        name="All datasets",
        locations=[row["iso3"] for row in rows],
        locationmode="ISO-3",
        z=[row["total"] for row in rows],
        text=[country_summary(row) for row in rows],
        hovertemplate="%{text}<extra></extra>",
        colorscale=[[0, "#e9eef4"], [1, "#aebdcd"]],
        zmin=0,
        marker={"line": {"color": "#ffffff", "width": 0.5}},
        colorbar={"title": {"text": "Datasets"}, "thickness": 12, "len": 0.6},
        showlegend=False,
    )


def _level_trace(rows: list[dict], level: Sensitivity, largest: int) -> go.Scattergeo:
    present = [row for row in rows if row["by_sensitivity"].get(level)]
    colour = SENSITIVITY_COLOURS[level]
    return go.Scattergeo(
        name=level.label,
        mode="markers",
        lat=[row["latitude"] for row in present],
        lon=[row["longitude"] for row in present],
        text=[country_summary(row) for row in present],
        customdata=[row["by_sensitivity"][level] for row in present],
        hovertemplate=f"%{{text}}<extra>{level.label}: %{{customdata}}</extra>",
        # Translucent fills with solid rims: a country's circles share one centre, and a large
        # circle must not hide the smaller ones of other levels.
        marker={
            "size": [marker_size(row["by_sensitivity"][level], largest) for row in present],
            "sizemode": "diameter",
            "color": _translucent(colour, 0.35),
            "line": {"color": colour, "width": 2},
        },
    )


def data_map_figure(rows: list[dict]) -> dict:
    """A world map of where datasets are stored: countries shaded by total, circles per level."""
    largest = max((max(row["by_sensitivity"].values()) for row in rows), default=0)
    figure = go.Figure([_totals_trace(rows)])
    for level in Sensitivity:
        figure.add_trace(_level_trace(rows, level, largest))
    figure.update_layout(
        template="none",
        height=520,
        margin={"l": 0, "r": 0, "t": 10, "b": 0},
        font={"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 13},
        legend={"orientation": "h", "x": 0, "y": -0.02, "title": {"text": "Sensitivity "}},
        hoverlabel={"align": "left"},
        geo={
            "scope": "world",
            "resolution": 110,
            "projection": {"type": "natural earth"},
            "showcountries": True,
            "countrycolor": "#ffffff",
            "showland": True,
            "landcolor": "#f1f4f8",
            "showocean": True,
            "oceancolor": "#fafcff",
            "showframe": False,
            "coastlinecolor": "#b8c2cf",
        },
    )
    return json.loads(figure.to_json())


def data_map_table(rows: list[dict]) -> list[dict]:
    """The map's numbers as table rows: a country, its total, then its count per level in order."""
    return [
        {
            "country": row["country"],
            "name": row["name"],
            "total": row["total"],
            "counts": [row["by_sensitivity"].get(level, 0) for level in Sensitivity.values],
        }
        for row in rows
    ]
