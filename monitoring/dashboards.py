"""Plotly figures for the risk dashboards: pure functions from dashboard selector output to
figure dicts (JSON-ready), drawn in the browser by the plotly.min.js Locus serves itself."""

from __future__ import annotations

import datetime as dt
import json

import plotly.graph_objects as go

from monitoring.models import EventOutcome

OUTCOME_COLOURS = {
    EventOutcome.COMPLIANT: "#2e7d32",
    EventOutcome.GRANTED: "#b7791f",
    EventOutcome.VIOLATION: "#c62828",
    EventOutcome.UNKNOWN_DATASET: "#78849e",
}
OUTCOME_LINKS = {  # translucent, so crossing flows stay readable
    EventOutcome.COMPLIANT: "rgba(46,125,50,0.45)",
    EventOutcome.GRANTED: "rgba(183,121,31,0.5)",
    EventOutcome.VIOLATION: "rgba(198,40,40,0.6)",
    EventOutcome.UNKNOWN_DATASET: "rgba(120,132,158,0.45)",
}
FONT = {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 13}
TOPOJSON_NAME = "world_110m"  # the base map, loaded from Locus's own static files


def _layout(figure: go.Figure, height: int, **extra) -> dict:
    layout = {
        "template": "none",
        "height": height,
        "margin": {"l": 40, "r": 10, "t": 10, "b": 40},
        "font": FONT,
        "hoverlabel": {"align": "left"},
    }
    figure.update_layout(**{**layout, **extra})
    return json.loads(figure.to_json())


def trend_figure(days: list[dt.date], series: dict[str, list[int]]) -> dict:
    """Events per day, one line per outcome (violations on top, in red)."""
    figure = go.Figure()
    for outcome in reversed(EventOutcome.values):
        figure.add_trace(
            go.Scatter(
                name=EventOutcome(outcome).label,
                x=[day.isoformat() for day in days],
                y=series.get(outcome, [0] * len(days)),
                mode="lines+markers" if len(days) <= 31 else "lines",
                line={"color": OUTCOME_COLOURS[outcome], "width": 2},
                hovertemplate="%{x}: %{y:,} events<extra>%{fullData.name}</extra>",
            )
        )
    return _layout(
        figure,
        300,
        legend={"orientation": "h", "y": -0.2},
        yaxis={"title": {"text": "events"}, "rangemode": "tozero"},
    )


def jurisdiction_map_figure(rows: list[dict]) -> dict:
    """Countries shaded by the violations of the jurisdiction(s) they belong to."""
    by_country: dict[str, dict] = {}
    for row in rows:
        for country in row["countries"]:
            entry = by_country.setdefault(
                country["iso3"], {"name": country["name"], "violations": 0, "lines": []}
            )
            entry["violations"] += row["violations"]
            entry["lines"].append(
                f"{row['name']}: {row['violations']:,} violations of {row['events']:,} events"
            )
    figure = go.Figure(
        go.Choropleth(
            locations=list(by_country),
            locationmode="ISO-3",
            z=[entry["violations"] for entry in by_country.values()],
            text=[
                f"{entry['name']}<br>" + "<br>".join(entry["lines"])
                for entry in by_country.values()
            ],
            hovertemplate="%{text}<extra></extra>",
            colorscale=[[0, "#fbe9e7"], [1, "#b71c1c"]],
            zmin=0,
            marker={"line": {"color": "#ffffff", "width": 0.5}},
            colorbar={"title": {"text": "Violations"}, "thickness": 12, "len": 0.6},
        )
    )
    return _layout(
        figure,
        360,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        geo={
            "scope": "world",
            "resolution": 110,
            "projection": {"type": "natural earth"},
            "showcountries": True,
            "countrycolor": "#ffffff",
            "showland": True,
            "landcolor": "#f1f4f8",
            "showframe": False,
            "coastlinecolor": "#b8c2cf",
        },
    )


def sankey_figure(rows: list[dict], names: dict[str, str] | None = None) -> dict:
    """Source country -> destination country, one link per outcome, coloured by outcome."""
    names = names or {}
    sources = sorted({row["source_country"] for row in rows})
    destinations = sorted({row["destination_country"] for row in rows})
    node = {code: i for i, code in enumerate(sources)}
    node.update({f"to:{code}": len(sources) + i for i, code in enumerate(destinations)})
    labels = [names.get(c, c) for c in sources] + [f"→ {names.get(c, c)}" for c in destinations]
    figure = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={"label": labels, "pad": 14, "thickness": 14, "color": "#90a4ae"},
            link={
                "source": [node[row["source_country"]] for row in rows],
                "target": [node[f"to:{row['destination_country']}"] for row in rows],
                "value": [row["events"] for row in rows],
                "color": [OUTCOME_LINKS[row["outcome"]] for row in rows],
                "customdata": [EventOutcome(row["outcome"]).label for row in rows],
                "hovertemplate": "%{source.label} → %{target.label}: %{value:,} events"
                "<br>%{customdata}<extra></extra>",
            },
        )
    )
    return _layout(figure, max(260, 28 * max(len(sources), len(destinations), 1)))


def top_datasets_figure(rows: list[dict]) -> dict:
    """The datasets with the most violating events, as horizontal bars (largest on top)."""
    ordered = list(reversed(rows))
    figure = go.Figure(
        go.Bar(
            orientation="h",
            x=[row["violations"] for row in ordered],
            y=[row["slug"] for row in ordered],
            marker={"color": OUTCOME_COLOURS[EventOutcome.VIOLATION]},
            hovertemplate="%{y}: %{x:,} violating events<extra></extra>",
        )
    )
    return _layout(
        figure,
        max(200, 30 * len(rows) + 60),
        margin={"l": 160, "r": 10, "t": 10, "b": 40},
        xaxis={"title": {"text": "violating events"}, "rangemode": "tozero"},
    )


def subject_requests_figure(counts: dict) -> dict:
    """The on-time rate of answered subject requests as a gauge, and the overdue count."""
    rate = counts["rate"]
    figure = go.Figure()
    figure.add_trace(
        go.Indicator(
            mode="gauge+number",
            value=round(rate * 100, 1) if rate is not None else None,
            number={"suffix": "%"},
            title={"text": f"On time ({counts['on_time']} of {counts['answered']} answered)"},
            gauge={
                "axis": {"range": [0, 100]},
                "bar": {"color": "#1565c0"},
                "steps": [
                    {"range": [0, 90], "color": "#fdecea"},
                    {"range": [90, 100], "color": "#e8f5e9"},
                ],
            },
            domain={"x": [0, 0.6], "y": [0, 1]},
        )
    )
    figure.add_trace(
        go.Indicator(
            mode="number",
            value=counts["overdue"],
            title={"text": f"Overdue (of {counts['open']} open)"},
            number={"font": {"color": "#c62828" if counts["overdue"] else "#2e7d32"}},
            domain={"x": [0.65, 1], "y": [0, 1]},
        )
    )
    return _layout(figure, 220, margin={"l": 20, "r": 20, "t": 40, "b": 10})
