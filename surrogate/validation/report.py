"""``report.html``: one self-contained page (inline CSS, plots embedded as base64 PNG, no
script, no external resource), so it opens offline and can be mailed or archived."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from ..formatting import fmt, scale_label

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d1d1f;
background:#fafafa;line-height:1.4}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.2em;margin:28px 0 8px;border-bottom:1px solid #ddd;
padding-bottom:4px}
.sub{color:#666;font-size:.9em}
.badge{display:inline-block;padding:4px 12px;border-radius:4px;font-weight:700;color:#fff;
margin-left:8px;font-size:.9em;vertical-align:middle}
.pass{background:#2e7d32}.fail{background:#c62828}.no-bounds{background:#757575}
table{border-collapse:collapse;font-size:.88em;background:#fff;margin:6px 0}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.ok{color:#2e7d32;font-weight:700}.bad{color:#c62828;font-weight:700}
details{margin:2px 0}summary{cursor:pointer;color:#1565c0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:12px}
figure{margin:0;background:#fff;border:1px solid #ddd;padding:6px}
figure img{width:100%;height:auto;display:block}
figure.wide{grid-column:1/-1}.error{color:#c62828}
figcaption{font-size:.8em;color:#555}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em}
pre{background:#fff;border:1px solid #ddd;padding:8px;overflow:auto;max-height:320px}
.kv th{width:220px}
.note{color:#555;font-size:.88em;max-width:900px}
"""


def esc(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _kv(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _bound_text(conditions: dict[str, float]) -> str:
    parts = []
    for key, lim in conditions.items():
        parts.append(
            {
                "max": f"≤ {lim:g}",
                "min": f"≥ {lim:g}",
                "max_ratio": f"≤ {lim:g} × floor",
                "max_excess": f"≤ floor + {lim:g}",
                "max_sigma": f"≤ floor + {lim:g}σ",
            }[key]
        )
    return ", ".join(parts)


def _model_section(m: dict[str, Any]) -> str:
    spec = m["spec"]
    fields = "<br>".join(
        esc(f"{f['name']}: shape {tuple(f['shape'])}, {f['dtype']}, unit {f['unit'] or '-'}")
        for f in spec["fields"]
    )
    conds = (
        "<br>".join(
            esc(f"{c['name']}: [{c['low']}, {c['high']}] {c['unit']} (prior {c['prior']})")
            for c in spec["conditions"]
        )
        or "none (unconditional)"
    )
    prov = m.get("provenance") or {}
    prov_html = "<br>".join(f"{esc(k)}: {esc(v)}" for k, v in prov.items()) or "unknown"
    rows = [
        (
            "generator family",
            f"<code>{esc(m['plugin'])}</code> (plugin version {esc(m['plugin_version'])})",
        ),
        ("model directory", esc(m.get("path") or "in memory")),
        ("created", esc(m.get("created") or "–")),
        ("density", esc(m.get("density"))),
        ("event fields", fields),
        ("conditions (valid range)", conds),
        ("training data", prov_html),
        (
            "hyper-parameters",
            f"<code>{esc(json.dumps(m.get('hyperparameters'), sort_keys=True))}</code>",
        ),
    ]
    if m.get("weights_sha256"):
        rows.append(("weights sha256", f"<code>{esc(m['weights_sha256'])}</code>"))
    return _kv(rows)


def _truth_section(data: dict[str, Any]) -> str:
    g, s = data["ground_truth"], data["settings"]
    rows = []
    if g["mode"] == "simulator":
        rows.append(
            (
                "reference",
                f"simulator <code>{esc(g['simulator'])}</code> "
                f"options {esc(json.dumps(g.get('options', {})))} "
                f"({esc(g.get('options_origin', ''))})",
            )
        )
    else:
        rows.append(
            (
                "reference",
                f"file <code>{esc(g['file'])}</code> "
                f"({g['events_in_file']} events; "
                f"producer {esc(g.get('file_producer') or 'unknown')})",
            )
        )
    rows += [
        ("events per sample", f"{s['n']:,}"),
        ("conditions", esc(g["conditions"])),
        ("floor", esc(g["floor"])),
        ("observable sets", esc(", ".join(s["observable_sets"]))),
        ("seed / device / batch", esc(f"{s['seed']} / {s['device']} / {s['batch_size']}")),
    ]
    e = s.get("execution")  # a sharded validation's
    if e:
        rows.append(
            (
                "sharded",
                esc(
                    f"{e['shards']} shards of {e['shard_size']:,} events on {e['backend']} "
                    f"({e['workers']} workers); the plots, sections and metrics that need "
                    f"events see a subsample of {e['subsample']:,} events per sample"
                ),
            )
        )
    return _kv(rows)


def _row_result(
    name: str, checks: list[dict[str, Any]], observable: str | None = None
) -> tuple[str, str]:
    """(the bounds on a row, observable or group, as text; the verdict as HTML)."""
    mine = [c for c in checks if c["metric"] == name and c["observable"] == observable]
    if not mine:
        return "", "–"
    bound = "; ".join(_bound_text(c["conditions"]) for c in mine)
    ok = all(c["passed"] for c in mine)
    verdict = '<span class="ok">✓ pass</span>' if ok else '<span class="bad">✗ fail</span>'
    return bound, verdict


def _metric_table(data: dict[str, Any]) -> str:
    checks = data["bounds"]
    head = (
        "<tr><th>metric</th><th>model vs reference</th><th>floor: reference vs reference</th>"
        "<th>ideal</th><th>bound</th><th>result</th></tr>"
    )
    body = []
    for row in data["metrics"]:
        mod, flo = row["model"], row["floor"]
        scale = mod.get("display_scale", 1.0)
        unit = scale_label(scale)
        bound, verdict = _row_result(row["name"], checks)
        on = row.get("evaluated_on")  # a sharded validation's: every event or a subsample
        how = f" [{on['how']}]" if on else ""
        body.append(
            f"<tr><td><b>{esc(row['name'])}</b>{esc(unit)}<br><span class='sub'>"
            f"{esc(row['description'] + how)}</span></td>"
            f"<td class='num'>{fmt(mod['value'], mod['error'], scale)}</td>"
            f"<td class='num'>{fmt(flo['value'], flo['error'], scale)}</td>"
            f"<td class='num'>{fmt(mod['ideal'], None, scale)}</td>"
            f"<td>{esc(bound)}</td><td>{verdict}</td></tr>"
        )
        if mod["per_observable"]:
            sub = []
            keys = list(mod["groups"]) if mod["groups"] else []
            for g in keys:
                b, v = _row_result(row["name"], checks, g)
                sub.append(
                    f"<tr><td>group {esc(g)}</td><td class='num'>{fmt(mod['groups'][g])}</td>"
                    f"<td class='num'>{fmt(flo['groups'].get(g))}</td><td>{esc(b)}</td>"
                    f"<td>{v}</td></tr>"
                )
            for k, v in mod["per_observable"].items():
                b, verdict_o = _row_result(row["name"], checks, k)
                sub.append(
                    f"<tr><td>{esc(k)}</td>"
                    f"<td class='num'>{fmt(v, mod['per_observable_error'].get(k))}</td>"
                    f"<td class='num'>"
                    f"{fmt(flo['per_observable'].get(k), flo['per_observable_error'].get(k))}</td>"
                    f"<td>{esc(b)}</td><td>{verdict_o}</td></tr>"
                )
            body.append(
                "<tr><td colspan='6'><details><summary>per observable "
                f"({len(mod['per_observable'])})</summary><table><tr><th>observable</th>"
                "<th>model</th><th>floor</th><th>bound</th><th>result</th></tr>"
                + "".join(sub)
                + "</table></details></td></tr>"
            )
    return f"<table>{head}{''.join(body)}</table>"


def _bounds_section(checks: list[dict[str, Any]], metrics: list[dict[str, Any]]) -> str:
    scales = {r["name"]: r["model"].get("display_scale", 1.0) for r in metrics}
    if not checks:
        return (
            "<p class='note'>No bounds were set (no <code>--config</code> with "
            "<code>bounds</code>): the table is information only and validate exits 0.</p>"
        )
    rows = "".join(
        f"<tr><td>{esc(c['metric'])}{(' / ' + esc(c['observable'])) if c['observable'] else ''}"
        f"{scale_label(_scale(scales, c))}"
        f"</td><td>{esc(_bound_text(c['conditions']))}</td>"
        f"<td class='num'>{fmt(c['value'], c['error'], _scale(scales, c))}</td>"
        f"<td class='num'>{fmt(c['floor'], c['floor_error'], _scale(scales, c))}</td>"
        f"<td>{'<span class=ok>✓ pass</span>' if c['passed'] else '<span class=bad>✗ fail</span>'}"
        f"</td><td>{esc(c['message'])}{(' — ' + esc(c['note'])) if c.get('note') else ''}</td></tr>"
        for c in checks
    )
    return (
        "<table><tr><th>row</th><th>bound</th><th>model</th><th>floor</th><th>result</th>"
        f"<th>detail</th></tr>{rows}</table>"
    )


def _scale(scales: dict[str, float], check: dict[str, Any]) -> float:
    """Whole-metric values are shown in the metric's display scale (FPD x10^3)."""
    return scales.get(check["metric"], 1.0) if check["observable"] is None else 1.0


def _timing_section(t: dict[str, Any]) -> str:
    def row(label: str, x: dict[str, Any] | None, device: str) -> str:
        if not x:
            return f"<tr><td>{esc(label)}</td><td colspan='4'>not measured</td></tr>"
        sps = x.get("samples_per_second")
        per_event = 1e3 / sps if sps else None
        return (
            f"<tr><td>{esc(label)}</td><td>{esc(device)}</td>"
            f"<td class='num'>{x['batch_size']:,}</td>"
            f"<td class='num'>{fmt(sps)}</td><td class='num'>{fmt(per_event)}</td></tr>"
        )

    hw = t.get("hardware", {})
    rows = row("surrogate", t["surrogate"], t.get("model_device", t["device"]))
    rows += row("reference", t.get("reference"), "cpu")
    speed = ""
    if t.get("speedup"):
        x = t["speedup"]
        words = (
            f"the surrogate is {fmt(x)}× faster than the reference"
            if x >= 1
            else f"the surrogate is {fmt(1 / x)}× slower than the reference"
        )
        speed = f"<p><b>speed-up (reference time / surrogate time): {fmt(x)}</b>: {words}.</p>"
    note = f"<p class='note'>{esc(t.get('note'))}</p>" if t.get("note") else ""
    machine = esc(
        f"{hw.get('processor', '?')}, {hw.get('cpu_count', '?')} CPUs, torch "
        f"{hw.get('torch', '?')} ({hw.get('torch_threads', '?')} threads)"
        + (f", GPU {hw['gpu']}" if hw.get("gpu") else "")
    )
    return (
        "<table><tr><th>source</th><th>device</th><th>batch size</th><th>samples / s</th>"
        f"<th>ms / event</th></tr>{rows}</table>{speed}{note}"
        f"<p class='note'>{t['events']:,} events each, same machine: {machine}. The first "
        "(warm-up) call is not counted.</p>"
    )


def _figure(folder: Path, item: dict[str, Any], alt: str, caption: str, wide: bool = False) -> str:
    """A saved figure embedded as base64 PNG (the page fetches nothing), captioned with
    the files that hold it."""
    raw = (folder / item["png"]).read_bytes()
    b64 = base64.b64encode(raw).decode("ascii")
    return (
        f"<figure{' class=wide' if wide else ''}><img alt='{esc(alt)}' "
        f"src='data:image/png;base64,{b64}'><figcaption>{esc(caption)}{' — ' if caption else ''}"
        f"also <code>{esc(item['png'])}</code>, <code>{esc(item['pdf'])}</code>"
        "</figcaption></figure>"
    )


def _plots_section(data: dict[str, Any], folder: Path) -> str:
    figs = [
        _figure(folder, p, f"histogram of {p['observable']}", p["observable"])
        for p in data["plots"]
    ]
    if not figs:
        return "<p class='note'>No plots.</p>"
    return (
        "<p class='note'>Normalised histograms of reference A (grey, filled), reference B "
        "(dashed: how much two reference samples differ) and the model (red), with "
        "Poisson error bars; below, the ratios to reference A.</p>"
        f"<div class='grid'>{''.join(figs)}</div>"
    )


def _cell(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"<td class='num'>{fmt(value)}</td>"
    return f"<td>{'–' if value is None else esc(value)}</td>"


def _section_table(item: dict[str, Any]) -> str:
    head = "".join(f"<th>{esc(c)}</th>" for c in item["columns"])
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in item["rows"])
    caption = f"<p class='note'>{esc(item['caption'])}</p>" if item.get("caption") else ""
    return f"{caption}<table><tr>{head}</tr>{body}</table>"


def _section_items(section: dict[str, Any], folder: Path) -> str:
    """A section's items in order; consecutive figures share one grid."""
    parts: list[str] = []
    figures: list[str] = []
    for item in section["items"]:
        if item["kind"] == "figure":
            alt = f"{section['title']}: {item['name']}"
            figures.append(_figure(folder, item, alt, item.get("caption", ""), item.get("wide")))
            continue
        if figures:
            parts.append(f"<div class='grid'>{''.join(figures)}</div>")
            figures = []
        if item["kind"] == "table":
            parts.append(_section_table(item))
        else:
            parts.append(f"<p class='note'>{esc(item['text'])}</p>")
    if figures:
        parts.append(f"<div class='grid'>{''.join(figures)}</div>")
    return "".join(parts)


def _sections_html(data: dict[str, Any], folder: Path) -> str:
    """The sections plugins registered (``register_report_sections``), each under its
    own heading; one that failed shows its error, so the reader knows it is missing."""
    out = []
    for section in data.get("sections", []):
        desc = section.get("description")
        error = (
            f"<p class='error'>This section failed and is incomplete: "
            f"<code>{esc(section['error'])}</code> (the rest of the report is unaffected).</p>"
            if section.get("error")
            else ""
        )
        out.append(
            f"<h2>{esc(section['title'])}</h2>"
            + (f"<p class='note'>{esc(desc)}</p>" if desc else "")
            + _section_items(section, folder)
            + error
        )
    return "\n".join(out)


def _details_section(data: dict[str, Any]) -> str:
    items = []
    for row in data["metrics"]:
        d = dict(row["model"].get("details") or {})
        d.pop("observables", None)
        opts = row.get("options") or {}
        items.append(
            f"<details><summary>{esc(row['name'])}</summary><pre>"
            + esc(json.dumps({"options": opts, "details (model)": d}, indent=1)[:6000])
            + "</pre></details>"
        )
    return "".join(items)


def render_html(data: dict[str, Any], folder: Path) -> str:
    status = data["status"]
    label = {"pass": "PASS", "fail": "FAIL", "no-bounds": "NO BOUNDS SET"}[status]
    m = data["model"]
    g = data["ground_truth"]
    versus = g["simulator"] if g["mode"] == "simulator" else Path(g["file"]).name
    runtime = data.get("runtime", {})
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in runtime.get("stages_seconds", {}).items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Validation: {esc(m["plugin"])} vs {esc(versus)} — {label}</title>
<style>{CSS}</style></head>
<body><main>
<h1>Validation of <code>{esc(m["plugin"])}</code> against {esc(versus)}
<span class="badge {status}">{label}</span></h1>
<div class="sub">surrogate {esc(data["toolkit_version"])}, {esc(data["created"])}
{("— <code>" + esc(data["command"]) + "</code>") if data.get("command") else ""}</div>

<h2>Metrics</h2>
<p class="note">Each metric compares the model's events with reference A; the floor is the
same metric between reference A and an independent reference B of the same size: what
"indistinguishable" looks like at this sample size (the CaloChallenge's GEANT4-vs-GEANT4
row). Lower is better; the ideal value is that of two identical distributions.</p>
{_metric_table(data)}

<h2>Pass / fail</h2>
{_bounds_section(data["bounds"], data["metrics"])}

<h2>Model</h2>
{_model_section(m)}

<h2>Ground truth</h2>
{_truth_section(data)}

<h2>Histograms</h2>
{_plots_section(data, folder)}
{_sections_html(data, folder)}

<h2>Timing</h2>
{_timing_section(data["timing"])}

<h2>Metric settings</h2>
{_details_section(data)}
<p class="sub">Run time: {esc(stages)}; peak memory {fmt(runtime.get("peak_rss_mb"))} MB.
Machine-readable: <code>report.json</code>.</p>
</main></body></html>
"""
