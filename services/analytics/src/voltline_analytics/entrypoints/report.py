"""The monthly network report: one printable HTML page with charts (Chart.js 4.6.1, vendored and inlined, so
the page works offline, saved to a file or printed to PDF)."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from voltline_analytics.adapters import kpi_reads as queries
from voltline_analytics.adapters.kpi_reads import Scope
from voltline_analytics.domain.timeslots import next_bucket
from voltline_analytics.entrypoints.api import _invalid
from voltline_analytics.entrypoints.exports import MONTH
from voltline_analytics.service_layer.context import AnalyticsContext

CHART_JS = "chart.umd.min.js"
SUMMARY = (
    ("Sessions", "sessions"), ("Failed sessions", "failed_sessions"), ("Energy (kWh)", "energy_kwh"),
    ("Revenue excl. VAT", "revenue_excl_vat"), ("Revenue incl. VAT", "revenue_incl_vat"),
    ("Refunds incl. VAT", "refunds_incl_vat"), ("Utilisation (%)", "utilisation_percent"),
    ("Uptime (%)", "uptime_percent"), ("Average energy (kWh)", "avg_energy_kwh"),
    ("Average duration (min)", "avg_duration_min"), ("Peak power (kW)", "peak_power_kw"),
    ("Unique drivers", "unique_drivers"), ("CO₂ avoided (kg)", "co2_avoided_kg"),
)  # fmt: skip
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _chart_js() -> str:
    return (resources.files("voltline_analytics.entrypoints") / "static" / CHART_JS).read_text()


def _json(value: Any) -> str:
    """JSON safe to embed in a <script> element."""
    return json.dumps(value, default=str).replace("</", "<\\/")


def build_report_router(ctx: AnalyticsContext) -> APIRouter:
    router = APIRouter(tags=["reports"])

    @router.get("/reports/monthly", response_class=HTMLResponse)
    async def monthly(
        month: Annotated[str, Query(description="YYYY-MM")],
        group_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> HTMLResponse:
        match = MONTH.match(month)
        if match is None:
            raise _invalid("query.month", "a month as YYYY-MM")
        start = datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)
        end = next_bucket(start, "month")
        scope = Scope(group_id=group_id)
        now = ctx.clock()
        async with ctx.sessions() as session:
            total = (await queries.kpis(session, scope, start, end, "month", now, ctx.co2, ctx.default_currency))[0]
            days = await queries.kpis(session, scope, start, end, "day", now, ctx.co2, ctx.default_currency)
            heat = await queries.heatmap(session, scope, start, end)
            ranks = {
                m: await queries.rankings(session, m, start, end, 5, now)
                for m in ("utilisation", "revenue", "failures")
            }
        return HTMLResponse(render(month, scope.label, total, days, heat, ranks, now))

    return router


def render(
    month: str,
    label: str,
    total: dict[str, Any],
    days: list[dict[str, Any]],
    heat: dict[str, Any],
    ranks: dict[str, dict[str, Any]],
    now: datetime,
) -> str:
    e = html.escape
    cells = [(name, "n/a" if total.get(key) is None else str(total[key])) for name, key in SUMMARY]
    summary = "".join(f"<tr><th>{e(name)}</th><td>{e(value)}</td></tr>" for name, value in cells)
    peak = max((max(row) for row in heat["sessions"]), default=0) or 1
    heat_rows = "".join(
        f"<tr><th>{d}</th>"
        + "".join(f'<td style="background:rgba(37,99,235,{n / peak:.2f})" title="{n}">{n or ""}</td>' for n in row)
        + "</tr>"
        for d, row in zip(DAYS, heat["sessions"], strict=True)
    )
    rank_tables = "".join(
        f"<div><h3>{e(metric.capitalize())}</h3><table><tr><th>Top</th><th></th><th>Bottom</th><th></th></tr>"
        + "".join(
            f"<tr><td>{e(t['station_id'])}</td><td>{e(t['value'])}</td><td>{e(b['station_id'])}</td><td>{e(b['value'])}</td></tr>"
            for t, b in zip(r["top"], r["bottom"], strict=False)
        )
        + "</table></div>"
        for metric, r in ranks.items()
    )
    series = {
        "labels": [d["bucket_start"].strftime("%d") for d in days],
        "sessions": [d["sessions"] for d in days],
        "failed": [d["failed_sessions"] for d in days],
        "energy": [float(d["energy_kwh"]) for d in days],
        "revenue": [float(d["revenue_incl_vat"]) for d in days],
        "utilisation": [float(d["utilisation_percent"] or 0) for d in days],
        "uptime": [None if d["uptime_percent"] is None else float(d["uptime_percent"]) for d in days],
        "currency": total["currency"],
    }
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>voltline report {e(month)}, {e(label)}</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#111}} h1{{margin:0}} .sub{{color:#555}}
table{{border-collapse:collapse;margin:.5rem 0}} th,td{{border:1px solid #ddd;padding:.2rem .5rem;text-align:right}}
th{{text-align:left;background:#f5f5f5}} .grid{{display:grid;grid-template-columns:1fr 1fr;gap:1rem}}
.ranks{{display:grid;grid-template-columns:repeat(3,1fr);gap:1rem}} canvas{{max-height:260px}}
.heat td{{width:1.6rem;text-align:center;font-size:11px}}
@media print{{body{{margin:0}} .grid{{break-inside:avoid}} h2{{break-before:auto}}}}
</style></head><body>
<h1>Network report {e(month)}</h1><p class="sub">{e(label)} · generated {e(now.strftime("%Y-%m-%d %H:%M UTC"))}</p>
<h2>Summary</h2><table>{summary}</table>
<h2>Day by day</h2>
<div class="grid"><div><canvas id="sessions"></canvas></div><div><canvas id="energy"></canvas></div>
<div><canvas id="revenue"></canvas></div><div><canvas id="availability"></canvas></div></div>
<h2>When drivers start charging (sessions by hour of week, UTC)</h2>
<table class="heat"><tr><th></th>{"".join(f"<th>{h}</th>" for h in range(24))}</tr>{heat_rows}</table>
<h2>Stations</h2><div class="ranks">{rank_tables}</div>
<script>{_chart_js()}</script>
<script>
const s = {_json(series)};
Chart.defaults.animation = false;
const bar = (id, sets, title) => new Chart(document.getElementById(id), {{type: "bar",
  data: {{labels: s.labels, datasets: sets}}, options: {{plugins: {{title: {{display: true, text: title}}}}}}}});
bar("sessions", [{{label: "sessions", data: s.sessions}}, {{label: "failed", data: s.failed}}], "Sessions per day");
bar("energy", [{{label: "kWh", data: s.energy}}], "Energy per day (kWh)");
bar("revenue", [{{label: s.currency, data: s.revenue}}], "Revenue incl. VAT per day (" + s.currency + ")");
new Chart(document.getElementById("availability"), {{type: "line", data: {{labels: s.labels, datasets: [
  {{label: "utilisation %", data: s.utilisation}}, {{label: "uptime %", data: s.uptime}}]}},
  options: {{plugins: {{title: {{display: true, text: "Utilisation and uptime (%)"}}}},
    scales: {{y: {{min: 0, max: 100}}}}}}}});
</script></body></html>"""
