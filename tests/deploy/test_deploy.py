"""Checks of the deployment files under deploy/, without a cluster or a Docker engine.

The alerting rules go through promtool (syntax and their unit tests); the
dashboard and the rules may only query metrics the worker exports, derived
from the prometheus_client registry rather than a list that could drift; the
Kubernetes manifests, compose.yaml and the Dockerfile are checked for the
promises the README makes about them (probes, volume, secrets, scaling limit)
and for settings the worker actually accepts.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from distillguard.streams.security import KafkaSecurity
from distillguard.streams.settings import DECLARED, from_sources

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
RULES = DEPLOY / "prometheus" / "rules.yml"
RULES_TEST = DEPLOY / "prometheus" / "rules_test.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboard.json"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"

JOB = "distillguard"
RUNBOOK_BASE = "https://github.com/distillguard/distillguard/blob/main/README.md#"
#: series Prometheus makes itself for every target, not exported by the worker
SYNTHETIC_SERIES = {"up"}
#: what the dashboard must show (README: Deployment)
DASHBOARD_MUST_SHOW = {
    "distillguard_consumer_lag_messages", "distillguard_events_processed_total",
    "distillguard_dead_letters_total", "distillguard_alerts_total",
    "distillguard_active_campaigns", "distillguard_account_score_bucket",
    "distillguard_event_time_lag_seconds", "distillguard_model_warm",
}
#: settings that come from a Secret, never from a literal in a manifest
SECRET_VARIABLES = {"KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"}

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not installed (Debian: apt-get install prometheus; .ci/run installs it)")


# --- helpers -------------------------------------------------------------------------------

#: exposition suffixes per metric type, as prometheus_client writes them
_SUFFIXES = {
    "counter": ("_total", "_created"), "gauge": ("",), "info": ("_info",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"), "unknown": ("",),
}


def exported_names() -> set[str]:
    """Every series name the worker can expose, from the registry streams.metrics fills.

    Families are used rather than samples: a labelled counter has no sample
    until its first increment, yet its name is exported.
    """
    from prometheus_client import REGISTRY

    import distillguard.streams.metrics  # noqa: F401  (registers the worker's metrics)

    return {fam.name + suffix for fam in REGISTRY.collect() for suffix in _SUFFIXES[fam.type]}


_PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects.

    Strings, label matchers, ranges and grouping lists are removed first;
    what remains that is an identifier not followed by "(" (a function or an
    aggregation) and not a keyword is a metric name.
    """
    expr = re.sub(r'"(?:\\.|[^"\\])*"', "", expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    found = re.findall(r"(?<![\w:.])[A-Za-z_:][\w:]*(?![\w:])(?!\s*\()", expr)
    return set(found) - _PROMQL_KEYWORDS


def load_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def load_dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def k8s_docs() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S.glob("*.yaml")) if path.name != "kustomization.yaml"
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def k8s_one(kind: str) -> dict[str, Any]:
    found = [d for d in k8s_docs() if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind} in deploy/k8s, found {len(found)}"
    return found[0]


def worker_container() -> dict[str, Any]:
    containers = k8s_one("StatefulSet")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def literal_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: str(e["value"]) for e in container["env"] if "value" in e}


def known_variables() -> set[str]:
    """Environment variables the worker reads: its settings, and the Kafka security ones.

    The security names are recorded while KafkaSecurity.from_env reads a SASL
    configuration, so a renamed variable there shows up here.
    """
    class Recorder(dict[str, str]):
        def get(self, key: str, default: Any = None) -> Any:
            seen.add(key)
            return super().get(key, default)

    seen: set[str] = set()
    KafkaSecurity.from_env(Recorder(KAFKA_SECURITY_PROTOCOL="SASL_SSL", KAFKA_SASL_USERNAME="u",
                                    KAFKA_SASL_PASSWORD="p", KAFKA_SASL_MECHANISM="PLAIN"))
    return seen | {spec.env for spec in DECLARED.values()}


def assert_worker_accepts(env: dict[str, str]) -> None:
    """The worker would start with this environment: known names, values it parses."""
    unknown = set(env) - known_variables()
    assert not unknown, f"variables the worker does not read: {sorted(unknown)}"
    from_sources(None, env)
    KafkaSecurity.from_env(env)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def dockerfile_instructions() -> Iterator[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    for line in logical.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            yield word.upper(), rest.strip()


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL or "promtool", *args], check=False, capture_output=True,
                          text=True, timeout=60, cwd=REPO)


# --- the helpers themselves ------------------------------------------------------------------

def test_metric_names_ignores_functions_labels_ranges_and_keywords() -> None:
    expr = ('sum by (le) (rate(a_total{job="x",le=~"0.5|b_c"}[5m] offset 15m)) / on() '
            'histogram_quantile(0.9, b_bucket) or vector(0) and up > bool 1e3')
    assert metric_names(expr) == {"a_total", "b_bucket", "up"}


def test_exported_names_cover_every_metric_type() -> None:
    names = exported_names()
    for name in ("distillguard_ingest_records_total", "distillguard_event_time_lag_seconds",
                 "distillguard_account_score_bucket", "distillguard_account_score_count",
                 "distillguard_build_info"):
        assert name in names
    assert "distillguard_ingest_records" not in names


# --- Prometheus rules ------------------------------------------------------------------------

@needs_promtool
def test_rules_pass_promtool_check() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_rules_unit_tests_pass() -> None:
    result = promtool("test", "rules", str(RULES_TEST))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_scrape_config_is_valid() -> None:
    result = promtool("check", "config", str(PROMETHEUS_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


def test_expected_alerts_exist() -> None:
    assert {r["alert"] for r in load_rules()} == {
        "DistillguardDown", "DistillguardConsumerLagGrowing", "DistillguardDeadLetterRateHigh",
        "DistillguardNoEvents", "DistillguardAlertStorm", "DistillguardCampaignDetected",
        "DistillguardPartitionStalled", "DistillguardFeedbackRejected",
        "DistillguardTopicMissing"}


def test_every_rule_fires_and_stays_silent_in_a_unit_test() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for case in yaml.safe_load(RULES_TEST.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else silent).add(check["alertname"])
    alerts = {r["alert"] for r in load_rules()}
    assert alerts - firing == set(), "rules never shown to fire"
    assert alerts - silent == set(), "rules never shown to stay silent"


def test_rules_query_only_exported_metrics_of_the_distillguard_job() -> None:
    exported = exported_names() | SYNTHETIC_SERIES
    for rule in load_rules():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= exported, f"{rule['alert']}: unknown metrics {names - exported}"
        jobs = set(re.findall(r'job="([^"]*)"', rule["expr"]))
        assert jobs == {JOB}, rule["alert"]


def test_rules_carry_severity_and_runbook() -> None:
    for rule in load_rules():
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], rule["alert"]
        assert annotations["runbook_url"] == f"{RUNBOOK_BASE}runbook-{rule['alert'].lower()}"


def test_runbook_links_resolve_to_readme_headings() -> None:
    readme = (REPO / "README.md").read_text()
    text = re.sub(r"^```.*?^```", "", readme, flags=re.MULTILINE | re.DOTALL)
    headings = re.findall(r"^#+\s+(.+)$", text, re.MULTILINE)
    anchors = {github_slug(h) for h in headings}
    missing = [r["alert"] for r in load_rules()
               if r["annotations"]["runbook_url"].removeprefix(RUNBOOK_BASE) not in anchors]
    assert not missing, f"README has no runbook heading for {missing}"


def test_scrape_config_job_is_the_one_rules_select() -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert [job["job_name"] for job in config["scrape_configs"]] == [JOB]
    assert [(PROMETHEUS_CONFIG.parent / f).resolve() for f in config["rule_files"]] == [RULES]


# --- Grafana dashboard -----------------------------------------------------------------------

def test_dashboard_is_well_formed() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]


def test_dashboard_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in load_dashboard()["panels"]:
        g = panel["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_dashboard_queries_only_exported_metrics() -> None:
    exported = exported_names() | SYNTHETIC_SERIES
    for expr in dashboard_exprs(load_dashboard()):
        names = metric_names(expr)
        assert names, expr
        assert names <= exported, f"unknown metrics {names - exported} in {expr}"


def test_dashboard_shows_what_operators_need() -> None:
    dashboard = load_dashboard()
    used = set().union(*(metric_names(e) for e in dashboard_exprs(dashboard)))
    assert DASHBOARD_MUST_SHOW - used == set()
    types = {p["type"] for p in dashboard["panels"]}
    assert {"stat", "timeseries", "heatmap"} <= types


@needs_promtool
def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each panel query as a recording rule, Grafana's interval filled in."""
    exprs = [e.replace("$__rate_interval", "5m") for e in dashboard_exprs(load_dashboard())]
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)]}]}
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


# --- Kubernetes manifests ----------------------------------------------------------------------

def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(manifests)


def test_builtin_kinds_match_the_kubernetes_schema() -> None:
    """Strict schema validation (unknown fields fail) of the kinds Kubernetes itself defines.

    KEDA's and the Prometheus Operator's kinds have no schema there; the tests
    below check them structurally.
    """
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="add kubernetes-validate to the test extra")
    builtin = [d for d in k8s_docs() if d["apiVersion"] in {"v1", "apps/v1", "policy/v1"}]
    assert {d["kind"] for d in builtin} == {"StatefulSet", "Service", "PodDisruptionBudget"}
    for doc in builtin:
        kubernetes_validate.validate(doc, "1.30", strict=True)


def test_statefulset_runs_the_worker_with_its_table_store_on_a_volume() -> None:
    sts = k8s_one("StatefulSet")
    container = worker_container()
    env = literal_env(container)
    assert env["DISTILLGUARD_STORE"].startswith("rocksdb://")
    assert env["DISTILLGUARD_WEB_HOST"] == "0.0.0.0"
    claims = {c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts[env["DISTILLGUARD_DATA_DIR"]] in claims
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == int(env["DISTILLGUARD_WEB_PORT"])
    labels = sts["spec"]["template"]["metadata"]["labels"]
    assert sts["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert sts["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_statefulset_environment_is_one_the_worker_accepts() -> None:
    container = worker_container()
    from_secrets = {e["name"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    assert from_secrets == SECRET_VARIABLES
    env = literal_env(container) | {name: "from-secret" for name in from_secrets}
    assert_worker_accepts(env)


def test_probes_use_readyz_to_start_and_serve_and_healthz_to_live() -> None:
    container = worker_container()
    paths = {probe: container[probe]["httpGet"]["path"]
             for probe in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert paths == {"startupProbe": "/readyz", "readinessProbe": "/readyz",
                     "livenessProbe": "/healthz"}
    assert {container[p]["httpGet"]["port"] for p in paths} == {"metrics"}


def test_headless_service_exposes_metrics_under_the_rules_job_name() -> None:
    service = k8s_one("Service")
    sts = k8s_one("StatefulSet")
    assert service["spec"]["clusterIP"] == "None"
    assert sts["spec"]["serviceName"] == service["metadata"]["name"] == JOB
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    ports = [(p["name"], p["targetPort"]) for p in service["spec"]["ports"]]
    assert ports == [("metrics", "metrics")]


def test_disruption_budget_covers_the_workers() -> None:
    pdb = k8s_one("PodDisruptionBudget")
    pod_labels = k8s_one("StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1


def test_service_monitor_scrapes_the_service_metrics_port() -> None:
    monitor = k8s_one("ServiceMonitor")
    service = k8s_one("Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    endpoints = [(e["port"], e["path"]) for e in monitor["spec"]["endpoints"]]
    assert endpoints == [("metrics", "/metrics")]


def test_keda_scales_the_statefulset_on_the_worker_group_lag() -> None:
    scaled = k8s_one("ScaledObject")
    env = literal_env(worker_container())
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet",
                                                "name": k8s_one("StatefulSet")["metadata"]["name"]}
    # a worker beyond the partition count gets no partition and never becomes ready
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]
    assert scaled["spec"]["maxReplicaCount"] <= int(env["DISTILLGUARD_PARTITIONS"])
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    meta = trigger["metadata"]
    assert (meta["consumerGroup"], meta["topic"]) == ("distillguard", "llm.requests")
    assert meta["consumerGroup"] == env["DISTILLGUARD_APP_ID"]
    assert meta["topic"] == env["DISTILLGUARD_INPUT_TOPIC"]
    assert meta["bootstrapServers"] == env["KAFKA_BOOTSTRAP_SERVERS"]
    assert int(meta["lagThreshold"]) > 0


def test_keda_authenticates_with_the_workers_secret() -> None:
    auth = k8s_one("TriggerAuthentication")
    [trigger] = k8s_one("ScaledObject")["spec"]["triggers"]
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    refs = {r["parameter"]: r for r in auth["spec"]["secretTargetRef"]}
    assert {"sasl", "username", "password"} <= refs.keys()
    worker_refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in worker_container()["env"]
                   if "valueFrom" in e}
    for parameter, variable in (("username", "KAFKA_SASL_USERNAME"),
                                ("password", "KAFKA_SASL_PASSWORD")):
        assert (refs[parameter]["name"], refs[parameter]["key"]) == (
            worker_refs[variable]["name"], worker_refs[variable]["key"])


# --- compose.yaml ------------------------------------------------------------------------------

def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_kafka_is_a_single_kraft_node() -> None:
    kafka = compose()["services"]["kafka"]
    env = kafka["environment"]
    assert kafka["image"].startswith("apache/kafka:")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
    advertised = env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    worker_env = compose()["services"]["distillguard"]["environment"]
    assert f"PLAINTEXT://{worker_env['KAFKA_BOOTSTRAP_SERVERS']}" in advertised


def test_compose_builds_the_worker_from_the_dockerfile_with_an_accepted_config() -> None:
    service = compose()["services"]["distillguard"]
    context = (COMPOSE.parent / service["build"]["context"]).resolve()
    assert context == REPO
    assert (context / service["build"]["dockerfile"]).resolve() == DOCKERFILE
    env = {k: str(v) for k, v in service["environment"].items()}
    assert env["DISTILLGUARD_WEB_HOST"] == "0.0.0.0"
    assert_worker_accepts(env)


def test_compose_references_existing_files_and_services() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name} mounts missing {source}"


def test_compose_wires_prometheus_and_grafana_to_the_worker() -> None:
    services = compose()["services"]
    worker_port = services["distillguard"]["environment"]["DISTILLGUARD_WEB_PORT"]
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    [job] = config["scrape_configs"]
    assert job["static_configs"][0]["targets"] == [f"distillguard:{worker_port}"]
    mounts = dict(v.split(":")[:2] for v in services["prometheus"]["volumes"] if v.startswith("."))
    assert mounts["./prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert mounts["./prometheus/rules.yml"] == "/etc/prometheus/rules.yml"

    grafana = dict(v.split(":")[:2] for v in services["grafana"]["volumes"] if v.startswith("."))
    provisioning = DEPLOY / "grafana" / "provisioning"
    [provider] = yaml.safe_load((provisioning / "dashboards" / "distillguard.yml").read_text())[
        "providers"]
    assert Path(grafana["./grafana/dashboard.json"]).parent == Path(provider["options"]["path"])
    [source] = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"


# --- Dockerfile --------------------------------------------------------------------------------

def test_dockerfile_builds_a_non_root_worker_image() -> None:
    instructions = list(dockerfile_instructions())
    by_word: dict[str, list[str]] = {}
    for word, args in instructions:
        by_word.setdefault(word, []).append(args)
    assert by_word["FROM"] == ["python:3.11-slim"]
    assert by_word["USER"][-1] not in {"root", "0"}
    assert "6066" in by_word["EXPOSE"][-1].split()
    assert "/healthz" in by_word["HEALTHCHECK"][-1]
    assert json.loads(by_word["ENTRYPOINT"][-1]) == ["distillguard", "worker"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert "distillguard" in scripts
    for args in by_word["COPY"]:
        *sources, _ = shlex.split(args)
        for source in sources:
            assert (REPO / source).exists(), f"COPY of missing {source}"


def test_dockerfile_environment_is_one_the_worker_accepts() -> None:
    env: dict[str, str] = {}
    for word, args in dockerfile_instructions():
        if word == "ENV":
            env.update(pair.partition("=")[::2] for pair in shlex.split(args))
    worker_env = {k: v for k, v in env.items() if k.startswith(("DISTILLGUARD_", "KAFKA_"))}
    assert worker_env["DISTILLGUARD_WEB_HOST"] == "0.0.0.0"
    assert_worker_accepts(worker_env)
