"""The dashboards: ten product panels and chat's canary signals, one source, both generated
files current and valid, threshold lines read from the rollback rules."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from recoengine.canary.rules import RULES_PATH, load_rules
from tools import gen_dashboards as gen

PRODUCT_PANELS = [
    "traffic_split",
    "error_rate",
    "latency_percentiles",
    "rps",
    "recommendation_accuracy",
    "memory",
    "firestore_usage",
    "cache_hit_rate",
    "error_count",
    "deployment_status",
]
CANARY_PANELS = ["chat_fallbacks", "chat_model"]


def test_the_ten_product_panels_and_chats_canary_signals_are_defined_once() -> None:
    spec = gen.load_panels()
    assert [p["id"] for p in spec["panels"]] == PRODUCT_PANELS + CANARY_PANELS


def _lines(panel_id: str, spec: dict) -> dict[float, str]:
    panel = next(p for p in spec["panels"] if p["id"] == panel_id)
    return {t["value"]: t["label"] for t in panel.get("thresholds", [])}


def test_threshold_lines_are_each_services_rollback_thresholds() -> None:
    spec = gen.load_panels()
    rules = load_rules()
    chat = rules.for_service("chat")
    assert _lines("error_rate", spec) == {
        100 * rules.by_trigger("error_rate").threshold: "chat error_rate, default error_rate"
    }
    assert _lines("latency_percentiles", spec) == {
        rules.by_trigger("latency_p95_ms").threshold: (
            "default latency_p95_ms, chat engine_latency_p95_ms"
        )
    }
    assert _lines("chat_fallbacks", spec) == {
        100 * chat.by_trigger("reply_fallback_rate").threshold: "chat reply_fallback_rate",
        100 * chat.by_trigger("understanding_fallback_rate").threshold: (
            "chat understanding_fallback_rate"
        ),
    }
    # The generated files carry exactly those lines.
    monitoring = json.loads(gen.MONITORING_FILE.read_text(encoding="utf-8"))
    grafana = json.loads(gen.GRAFANA_FILE.read_text(encoding="utf-8"))
    for i, panel in enumerate(spec["panels"]):
        chart = monitoring["mosaicLayout"]["tiles"][i]["widget"]["xyChart"]
        want = panel.get("thresholds", [])
        assert chart.get("thresholds", []) == [
            {"label": t["label"], "value": t["value"], "targetAxis": "Y1"} for t in want
        ]
        steps = grafana["panels"][i]["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert [s["value"] for s in steps[1:]] == [t["value"] for t in want]


def test_a_changed_rule_moves_its_line(tmp_path: Path) -> None:
    doc = yaml.safe_load(RULES_PATH.read_text(encoding="utf-8"))
    for group in doc["groups"]:
        for rule in group["rules"]:
            if rule["labels"]["service"] == "chat" and rule["labels"]["trigger"] == "error_rate":
                rule["labels"]["threshold"] = "0.02"
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(doc))
    spec = gen.load_panels(rules_path=rules)
    assert _lines("error_rate", spec) == {1.0: "default error_rate", 2.0: "chat error_rate"}
    assert gen.stale_files(spec)  # the committed dashboards would need `make dashboards`


def test_generated_dashboards_are_up_to_date() -> None:
    stale = gen.stale_files(gen.load_panels())
    assert not stale, f"run `make dashboards`: out of date {[p.name for p in stale]}"


def test_both_dashboards_show_the_same_panels_and_queries() -> None:
    spec = gen.load_panels()
    monitoring = json.loads(gen.MONITORING_FILE.read_text(encoding="utf-8"))
    grafana = json.loads(gen.GRAFANA_FILE.read_text(encoding="utf-8"))
    tiles = monitoring["mosaicLayout"]["tiles"]
    assert [t["widget"]["title"] for t in tiles] == [p["title"] for p in spec["panels"]]
    assert [p["title"] for p in grafana["panels"]] == [p["title"] for p in spec["panels"]]
    for tile, panel in zip(tiles, grafana["panels"], strict=True):
        gcm = [
            d["timeSeriesQuery"]["prometheusQuery"] for d in tile["widget"]["xyChart"]["dataSets"]
        ]
        assert gcm == [t["expr"] for t in panel["targets"]]
    # Tiles do not overlap and fit the 48-column mosaic.
    cells = set()
    for t in tiles:
        assert t["xPos"] + t["width"] <= monitoring["mosaicLayout"]["columns"]
        for x in range(t["xPos"], t["xPos"] + t["width"]):
            for y in range(t["yPos"], t["yPos"] + t["height"]):
                assert (x, y) not in cells
                cells.add((x, y))


def test_every_panel_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query (as a recording rule), so a typo fails here, not in a console."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: run `make system-deps` (Debian package prometheus)")
    spec = gen.load_panels()
    rules = [
        {"record": f"panel:{p['id']}:{i}", "expr": " ".join(q["promql"].split())}
        for p in spec["panels"]
        for i, q in enumerate(p["queries"])
    ]
    path = tmp_path / "panels.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    proc = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(rules)} rules found" in proc.stdout


def test_check_mode_detects_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "grafana.json"
    stale.write_text("{}\n")
    monkeypatch.setattr(gen, "GRAFANA_FILE", stale)
    monkeypatch.setattr(gen, "MONITORING_FILE", tmp_path / "monitoring.json")
    assert gen.main(["--check"]) == 1
    assert gen.main([]) == 0
    assert gen.main(["--check"]) == 0
