"""Generate the Cloud Monitoring and Grafana dashboards from ONE panel definition.

``infra/dashboards/panels.yaml`` holds the product's ten panels and chat's canary signals
(title, unit, chart kind, PromQL queries). Threshold lines come from the rollback rules
(``shared/recoengine/rollback_rules.yml``, the file the alerts and the canary's judge read): a
panel names the triggers it shows, and each service's threshold for them is drawn, labelled
with the services it applies to. Writing the two dashboards by hand would let them drift; this
script derives both, deterministically, so a test can check the committed files are current:

    python tools/gen_dashboards.py            # write monitoring.json and grafana.json
    python tools/gen_dashboards.py --check    # exit 1 if either is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from recoengine.canary.rules import RULES_PATH, load_rules

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "infra" / "dashboards"
PANELS_FILE = DASHBOARDS / "panels.yaml"
MONITORING_FILE = DASHBOARDS / "monitoring.json"
GRAFANA_FILE = DASHBOARDS / "grafana.json"

# Cloud Monitoring's mosaic layout is 48 columns wide; Grafana's grid is 24. Two panels a row.
_MONITORING_COLUMNS, _MONITORING_HEIGHT = 48, 16
_GRAFANA_COLUMNS, _GRAFANA_HEIGHT = 24, 8
_PLOT_TYPES = {"line": "LINE", "stacked_area": "STACKED_AREA", "stacked_bar": "STACKED_BAR"}
_REF_IDS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class PanelError(ValueError):
    """panels.yaml does not describe a valid dashboard."""


def rule_thresholds(triggers: list[str], scale: float, rules_path: Path) -> list[dict[str, Any]]:
    """One line per distinct threshold of ``triggers`` across the services' rules, labelled
    with who it applies to (``default`` is every service without rules of its own)."""
    services = load_rules(rules_path).services
    by_value: dict[float, list[str]] = {}
    for trigger in triggers:
        for name in sorted(services):
            rule = services[name].get(trigger)
            if rule is not None:
                value = round(rule.threshold * scale, 9)
                by_value.setdefault(value, []).append(f"{name} {trigger}")
    if not by_value:
        raise PanelError(f"no rollback rule has the triggers {triggers}")
    return [{"value": v, "label": ", ".join(who)} for v, who in sorted(by_value.items())]


def load_panels(path: Path = PANELS_FILE, rules_path: Path = RULES_PATH) -> dict[str, Any]:
    """Read and validate the panel source; errors name the panel so the fix is obvious.
    A panel's ``thresholds`` ({triggers, scale}) are resolved against the rollback rules."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(spec, dict) or not isinstance(spec.get("panels"), list):
        raise PanelError(f"{path}: expected a mapping with a 'panels' list")
    units = spec.get("units", {})
    seen: set[str] = set()
    for panel in spec["panels"]:
        pid = panel.get("id")
        if not pid or pid in seen:
            raise PanelError(f"panel id missing or repeated: {pid!r}")
        seen.add(pid)
        if panel.get("unit") not in units:
            raise PanelError(f"panel {pid}: unit {panel.get('unit')!r} is not in 'units'")
        if panel.get("chart") not in _PLOT_TYPES:
            raise PanelError(f"panel {pid}: chart must be one of {sorted(_PLOT_TYPES)}")
        queries = panel.get("queries")
        if not queries or not all(q.get("promql") for q in queries):
            raise PanelError(f"panel {pid}: every panel needs queries with promql")
        if len(queries) > len(_REF_IDS):
            raise PanelError(f"panel {pid}: too many queries")
        wanted = panel.get("thresholds")
        if wanted is not None:
            if not isinstance(wanted, dict) or not wanted.get("triggers"):
                raise PanelError(f"panel {pid}: thresholds needs triggers (and a scale)")
            scale = float(wanted.get("scale", 1))
            panel["thresholds"] = rule_thresholds(list(wanted["triggers"]), scale, rules_path)
    return spec


def _one_line(promql: str) -> str:
    return " ".join(promql.split())


def monitoring_dashboard(spec: dict[str, Any]) -> dict[str, Any]:
    """Cloud Monitoring dashboard JSON (mosaic layout, PromQL data sets)."""
    width = _MONITORING_COLUMNS // 2
    tiles = []
    for i, panel in enumerate(spec["panels"]):
        unit = spec["units"][panel["unit"]]["monitoring"]
        chart: dict[str, Any] = {
            "dataSets": [
                {
                    "plotType": _PLOT_TYPES[panel["chart"]],
                    "targetAxis": "Y1",
                    "minAlignmentPeriod": "60s",
                    "timeSeriesQuery": {
                        "prometheusQuery": _one_line(q["promql"]),
                        "unitOverride": unit,
                    },
                }
                for q in panel["queries"]
            ],
            "yAxis": {"label": unit, "scale": "LINEAR"},
        }
        if panel.get("thresholds"):
            # An XyChart's thresholds take no color or direction (the API refuses them there).
            chart["thresholds"] = [
                {"label": t["label"], "value": t["value"], "targetAxis": "Y1"}
                for t in panel["thresholds"]
            ]
        tiles.append(
            {
                "xPos": (i % 2) * width,
                "yPos": (i // 2) * _MONITORING_HEIGHT,
                "width": width,
                "height": _MONITORING_HEIGHT,
                "widget": {"title": panel["title"], "xyChart": chart},
            }
        )
    return {
        "displayName": spec["title"],
        "mosaicLayout": {"columns": _MONITORING_COLUMNS, "tiles": tiles},
        "labels": {"recoengine": ""},
    }


def grafana_dashboard(spec: dict[str, Any]) -> dict[str, Any]:
    """Grafana dashboard JSON (timeseries panels on a Prometheus data source variable)."""
    width = _GRAFANA_COLUMNS // 2
    panels = []
    for i, panel in enumerate(spec["panels"]):
        stacked = panel["chart"] != "line"
        steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
        steps += [{"color": "red", "value": t["value"]} for t in panel.get("thresholds", [])]
        panels.append(
            {
                "id": i + 1,
                "type": "timeseries",
                "title": panel["title"],
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "gridPos": {
                    "x": (i % 2) * width,
                    "y": (i // 2) * _GRAFANA_HEIGHT,
                    "w": width,
                    "h": _GRAFANA_HEIGHT,
                },
                "fieldConfig": {
                    "defaults": {
                        "unit": spec["units"][panel["unit"]]["grafana"],
                        "custom": {
                            "drawStyle": "bars" if panel["chart"] == "stacked_bar" else "line",
                            "fillOpacity": 40 if stacked else 0,
                            "stacking": {"mode": "normal" if stacked else "none"},
                            "thresholdsStyle": {
                                "mode": "line" if panel.get("thresholds") else "off"
                            },
                        },
                        "thresholds": {"mode": "absolute", "steps": steps},
                    },
                    "overrides": [],
                },
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
                "targets": [
                    {
                        "refId": _REF_IDS[j],
                        "datasource": {"type": "prometheus", "uid": "${datasource}"},
                        "expr": _one_line(q["promql"]),
                        "legendFormat": q.get("legend", ""),
                    }
                    for j, q in enumerate(panel["queries"])
                ],
            }
        )
    return {
        "uid": "recoengine",
        "title": spec["title"],
        "tags": ["recoengine", "cloud-run", "canary"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source (Cloud Monitoring PromQL)",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                }
            ]
        },
        "panels": panels,
    }


def render(spec: dict[str, Any]) -> dict[Path, str]:
    """The generated files' exact text, keyed by path."""
    return {
        MONITORING_FILE: json.dumps(monitoring_dashboard(spec), indent=2, ensure_ascii=False)
        + "\n",
        GRAFANA_FILE: json.dumps(grafana_dashboard(spec), indent=2, ensure_ascii=False) + "\n",
    }


def stale_files(spec: dict[str, Any]) -> list[Path]:
    """Generated files whose committed text differs from what the panels produce."""
    return [
        path
        for path, text in render(spec).items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a file is out of date")
    args = parser.parse_args(argv)
    spec = load_panels()
    if args.check:
        stale = stale_files(spec)
        for path in stale:
            print(f"out of date: {_shown(path)} (run make dashboards)", file=sys.stderr)
        return 1 if stale else 0
    for path, text in render(spec).items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {_shown(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
