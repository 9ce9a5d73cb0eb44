"""Plotly figures for the risk dashboards: pure functions from dashboard selector output to
figure dicts (JSON-ready), drawn in the browser by the plotly.min.js Locus serves itself.

Built as plain dicts in Plotly's figure schema rather than through plotly.graph_objects: the
executive page builds five figures per request, and the objects' validation cost more than all
its queries (the figures are the same; tests draw nothing, so they check the structure)."""

from __future__ import annotations

import datetime as dt

from monitoring.dashboards.selectors import JurisdictionRisk
from monitoring.models import EventOutcome

# Keyed by outcome value: rollup rows name outcomes as plain strings.
OUTCOME_COLOURS: dict[str, str] = {
    EventOutcome.COMPLIANT: "#2e7d32",
    EventOutcome.GRANTED: "#b7791f",
    EventOutcome.VIOLATION: "#c62828",
    EventOutcome.UNKNOWN_DATASET: "#78849e",
}
OUTCOME_LINKS: dict[str, str] = {  # translucent, so crossing flows stay readable
    EventOutcome.COMPLIANT: "rgba(46,125,50,0.45)",
    EventOutcome.GRANTED: "rgba(183,121,31,0.5)",
    EventOutcome.VIOLATION: "rgba(198,40,40,0.6)",
    EventOutcome.UNKNOWN_DATASET: "rgba(120,132,158,0.45)",
}
FONT = {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 13}
TOPOJSON_NAME = "world_110m"  # the base map, loaded from Locus's own static files


TOP_FLOWS = 8  # country pairs drawn apart; the rest join "Other" (more is unreadable)
OTHER = "Other"


def _figure(data: list[dict], height: int, **layout) -> dict:
    base = {
        "height": height,
        "margin": {"l": 40, "r": 10, "t": 10, "b": 40},
        "font": FONT,
        "hoverlabel": {"align": "left"},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        # A live update redraws with Plotly.react: a constant uirevision keeps what the reader
        # did (zoom, hidden series, the point under the cursor) across it.
        "uirevision": "risk",
    }
    return {"data": data, "layout": {**base, **layout}}


def empty_figure(message: str, height: int = 200) -> dict:
    """No data: a blank figure that says so (plotly.js cannot draw an empty Sankey)."""
    hidden = {"visible": False}
    return _figure(
        [],
        height,
        xaxis=hidden,
        yaxis=hidden,
        annotations=[
            {
                "text": message,
                "showarrow": False,
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "font": {"color": "#6b7280", "size": 14},
            }
        ],
    )


def trend_figure(days: list[dt.date], series: dict[str, list[int]]) -> dict:
    """Events per day, one line per outcome (violations on top, in red)."""
    x = [day.isoformat() for day in days]
    data = [
        {
            "type": "scatter",
            "name": EventOutcome(outcome).label,
            "x": x,
            "y": series.get(outcome, [0] * len(days)),
            "mode": "lines+markers" if len(days) <= 31 else "lines",
            "line": {"color": OUTCOME_COLOURS[outcome], "width": 2},
            "hovertemplate": "%{x}: %{y:,} events<extra>%{fullData.name}</extra>",
        }
        for outcome in reversed(EventOutcome.values)
    ]
    return _figure(
        data,
        300,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        yaxis={
            "title": {"text": "events", "standoff": 12},
            "automargin": True,
            "rangemode": "tozero",
            "gridcolor": "#eef1f5",
        },
        xaxis={"automargin": True, "gridcolor": "#eef1f5"},
    )


def jurisdiction_map_figure(rows: list[JurisdictionRisk]) -> dict:
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
    trace = {
        "type": "choropleth",
        "locations": list(by_country),
        "locationmode": "ISO-3",
        "z": [entry["violations"] for entry in by_country.values()],
        "text": [
            f"{entry['name']}<br>" + "<br>".join(entry["lines"]) for entry in by_country.values()
        ],
        "hovertemplate": "%{text}<extra></extra>",
        "colorscale": [[0, "#fbe9e7"], [1, "#b71c1c"]],
        "zmin": 0,
        "marker": {"line": {"color": "#ffffff", "width": 0.5}},
        "colorbar": {"title": {"text": "Violations"}, "thickness": 12, "len": 0.6},
    }
    return _figure(
        [trace],
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


def group_flows(rows: list[dict], top: int = TOP_FLOWS) -> list[dict]:
    """The `top` largest country pairs as they are; every other flow joins "Other" at the end
    that is not itself drawn (a source or destination of a kept pair), per outcome. Totals are
    kept; rows come out biggest first."""
    pairs: dict[tuple[str, str], int] = {}
    for row in rows:
        pair = (row["source_country"], row["destination_country"])
        pairs[pair] = pairs.get(pair, 0) + row["events"]
    kept = set(sorted(pairs, key=lambda p: (-pairs[p], p))[:top])
    sources = {s for s, _ in kept}
    destinations = {d for _, d in kept}
    grouped: dict[tuple[str, str, str], dict] = {}
    for row in rows:
        src, dst = row["source_country"], row["destination_country"]
        if (src, dst) not in kept:
            src = src if src in sources else OTHER
            dst = dst if dst in destinations else OTHER
        key = (src, dst, row["outcome"])
        entry = grouped.setdefault(
            key,
            {
                "source_country": src,
                "destination_country": dst,
                "outcome": row["outcome"],
                "events": 0,
                "bytes": 0,
            },
        )
        entry["events"] += row["events"]
        entry["bytes"] += row.get("bytes") or 0
    return sorted(
        grouped.values(),
        key=lambda r: (-r["events"], r["source_country"], r["destination_country"], r["outcome"]),
    )


def sankey_figure(rows: list[dict], names: dict[str, str] | None = None) -> dict:
    """Source country -> destination country, one link per outcome, coloured by outcome: the
    TOP_FLOWS largest country pairs, the rest grouped as "Other". Nodes are named by country
    name; a link's hover reads "Germany → Sweden: 1,234 events"."""
    if not rows:
        return empty_figure("No cross-border flows in the period.")
    names = {**(names or {}), OTHER: "Other countries"}
    rows = group_flows(rows)

    def order(codes):  # by name, "Other" last
        return sorted(codes, key=lambda c: (c == OTHER, names.get(c, c)))

    sources = order({row["source_country"] for row in rows})
    destinations = order({row["destination_country"] for row in rows})
    node = {code: i for i, code in enumerate(sources)}
    node.update({f"to:{code}": len(sources) + i for i, code in enumerate(destinations)})
    labels = [names.get(c, c) for c in sources] + [names.get(c, c) for c in destinations]
    trace = {
        "type": "sankey",
        "arrangement": "snap",
        "valueformat": ",d",
        "node": {
            "label": labels,
            "pad": 14,
            "thickness": 14,
            "color": "#90a4ae",
            "hovertemplate": "%{label}: %{value:,} events<extra></extra>",
        },
        "link": {
            "source": [node[row["source_country"]] for row in rows],
            "target": [node[f"to:{row['destination_country']}"] for row in rows],
            "value": [row["events"] for row in rows],
            "color": [OUTCOME_LINKS[row["outcome"]] for row in rows],
            "customdata": [EventOutcome(row["outcome"]).label for row in rows],
            "hovertemplate": "%{source.label} → %{target.label}: %{value:,} events"
            "<br>%{customdata}<extra></extra>",
        },
    }
    height = max(260, 34 * max(len(sources), len(destinations), 1))
    return _figure([trace], height, margin={"l": 10, "r": 10, "t": 10, "b": 10})


def top_datasets_figure(rows: list[dict]) -> dict:
    """The datasets with the most violating events, as horizontal bars (largest on top)."""
    if not rows:
        return empty_figure("No violations in the period.")
    ordered = list(reversed(rows))
    trace = {
        "type": "bar",
        "orientation": "h",
        "x": [row["violations"] for row in ordered],
        "y": [row["name"] for row in ordered],
        "customdata": [row["slug"] for row in ordered],
        "marker": {"color": OUTCOME_COLOURS[EventOutcome.VIOLATION]},
        "hovertemplate": "%{y}<br>%{customdata}: %{x:,} violating events<extra></extra>",
    }
    return _figure(
        [trace],
        max(200, 30 * len(rows) + 60),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={
            "title": {"text": "violating events", "standoff": 8},
            "automargin": True,
            "rangemode": "tozero",
        },
        # Full names: the axis makes room for them (automargin), nothing is cut.
        yaxis={"type": "category", "automargin": True},
    )


def subject_requests_figure(counts: dict) -> dict:
    """The on-time rate of answered subject requests as a gauge, and the overdue count."""
    rate = counts["rate"]
    gauge = {
        "type": "indicator",
        "mode": "gauge+number",
        "value": round(rate * 100, 1) if rate is not None else None,
        "number": {"suffix": "%"},
        "title": {"text": f"On time ({counts['on_time']} of {counts['answered']} answered)"},
        "gauge": {
            "axis": {"range": [0, 100]},
            "bar": {"color": "#1565c0"},
            "steps": [
                {"range": [0, 90], "color": "#fdecea"},
                {"range": [90, 100], "color": "#e8f5e9"},
            ],
        },
        "domain": {"x": [0, 0.6], "y": [0, 1]},
    }
    overdue = {
        "type": "indicator",
        "mode": "number",
        "value": counts["overdue"],
        "title": {"text": f"Overdue (of {counts['open']} open)"},
        "number": {"font": {"color": "#c62828" if counts["overdue"] else "#2e7d32"}},
        "domain": {"x": [0.65, 1], "y": [0, 1]},
    }
    return _figure([gauge, overdue], 220, margin={"l": 20, "r": 20, "t": 40, "b": 10})
