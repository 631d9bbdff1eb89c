"""A real Prometheus server scrapes a running worker and loads deploy/prometheus/rules.yml.

What promtool cannot show: that Prometheus parses the worker's /metrics
output, that the series arrive under the names the rules and the dashboard
use, and that every rule and dashboard query evaluates against live data
without error.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from distillguard.models.compiled import implementation
from distillguard.testing.broker import free_port
from distillguard.testing.processes import WorkerProcess
from distillguard.testing.settings import create_topics, unique_settings
from tests.kafka_helpers import wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("prometheus") is None,
        reason="prometheus server not installed (Debian: apt-get install prometheus; "
               ".ci/run installs it)"),
]

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "rules.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "dashboard.json"
JOB = "distillguard"
WAIT = 60.0


@dataclass
class PrometheusProcess:
    """A `prometheus` server scraping one target every second, with the repo's rules."""

    workdir: Path
    target: str
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PrometheusProcess:
        self.port = free_port()
        config = self.workdir / "prometheus.yml"
        # JSON is YAML: no YAML writer needed
        config.write_text(json.dumps({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [self.target]}]}],
        }))
        with open(self.workdir / "prometheus.log", "ab") as log:
            self.proc = subprocess.Popen(
                ["prometheus", f"--config.file={config}",
                 f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def api(self, path: str, **params: str) -> Any:
        """The `data` of a successful API answer; None while the server is not up yet."""
        if self.proc is not None and self.proc.poll() is not None:
            log = (self.workdir / "prometheus.log").read_text(errors="replace")[-3000:]
            raise AssertionError(f"prometheus exited with {self.proc.returncode}:\n{log}")
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:  # a bad query: Prometheus says why
            raise AssertionError(f"{path} {params}: {error.read().decode()}") from None
        except (urllib.error.URLError, ConnectionError):
            return None
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector `expr` evaluates to now."""
        data = self.api("query", query=expr)
        assert data is not None and data["resultType"] == "vector", (expr, data)
        return data["result"]


@pytest.fixture(scope="module")
def prometheus(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[PrometheusProcess]:
    """A worker on the test broker, and a Prometheus that has scraped it successfully."""
    workdir = tmp_path_factory.mktemp("prometheus")
    settings = unique_settings(kafka_bootstrap, workdir / "data", metrics_interval=1.0)
    create_topics(settings)
    worker = WorkerProcess(settings, workdir / "worker.log").start()
    server = PrometheusProcess(workdir, f"127.0.0.1:{settings.web_port}")
    try:
        server.start()
        wait_until(lambda: any(t["health"] == "up" for t in
                               (server.api("targets") or {}).get("activeTargets", [])),
                   WAIT, "prometheus to scrape the worker", worker)
        yield server
    finally:
        server.stop()
        # A worker told to stop mid-join first finishes the join (half a minute
        # on the embedded broker); its clean shutdown is not under test here.
        worker.stop(timeout=5.0)


def test_worker_metrics_arrive_through_prometheus(prometheus: PrometheusProcess) -> None:
    [build] = prometheus.query(f'distillguard_build_info{{job="{JOB}"}}')
    assert build["metric"]["version"] == version("distillguard")
    assert build["metric"]["hot_path"] == implementation()  # the worker runs with our settings
    [warm] = prometheus.query(f'distillguard_model_warm{{job="{JOB}"}}')
    assert warm["value"][1] == "0"  # a fresh worker has scored nothing yet
    [up] = prometheus.query(f'up{{job="{JOB}"}}')
    assert up["value"][1] == "1"


def test_alerting_rules_load_and_evaluate_without_error(prometheus: PrometheusProcess) -> None:
    def rules() -> list[dict[str, Any]]:
        groups = (prometheus.api("rules") or {}).get("groups", [])
        return [rule for group in groups for rule in group["rules"]]

    # "unknown" until a rule's first evaluation, a second after loading
    wait_until(lambda: bool(rules()) and all(r["health"] != "unknown" for r in rules()),
               WAIT, "every rule to be evaluated")
    loaded = rules()
    assert {r["name"] for r in loaded} == {
        "DistillguardDown", "DistillguardConsumerLagGrowing", "DistillguardDeadLetterRateHigh",
        "DistillguardNoEvents", "DistillguardAlertStorm", "DistillguardCampaignDetected",
        "DistillguardPartitionStalled", "DistillguardFeedbackRejected",
        "DistillguardTopicMissing"}
    failing = {r["name"]: r.get("lastError") for r in loaded if r["health"] != "ok"}
    assert failing == {}


def test_dashboard_queries_evaluate_against_live_data(prometheus: PrometheusProcess) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"].replace("$__rate_interval", "1m")
             for panel in dashboard["panels"] for t in panel["targets"]]
    assert exprs
    for expr in exprs:
        prometheus.query(expr)
