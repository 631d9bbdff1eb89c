"""Worker settings: one typed object, filled from defaults, environment, then flags.

Each setting has an environment variable (`DISTILLGUARD_<NAME>`, except the
contract's `KAFKA_BOOTSTRAP_SERVERS`) and a command-line flag; `--help`
lists them all with their defaults. Flags win over the environment.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, fields, replace
from typing import Any

from distillguard.models.accounts import DetectorConfig
from distillguard.models.alerts import Thresholds
from distillguard.models.fingerprints import LinkRule


@dataclass(frozen=True, slots=True)
class Setting:
    """How one field is exposed: flag, environment variable, help text."""

    env: str
    help: str


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str = "127.0.0.1:9092"
    app_id: str = "distillguard"
    input_topic: str = "llm.requests"
    dlq_topic: str = "llm.requests.dlq"
    alerts_topic: str = "extraction.alerts"
    feedback_topic: str = "extraction.feedback"
    partitions: int = 4
    store: str = "memory://"
    data_dir: str = "distillguard-data"
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    log_level: str = "warn"
    rebalance_timeout: float = 60.0
    session_timeout: float = 60.0
    metrics_interval: float = 10.0
    max_request_bytes: int = 8 << 20
    fetch_max_wait: float = 0.1
    producer_batch_bytes: int = 256 << 10
    standby_replicas: int = 1
    tick_events: int = 10
    tick_seconds: float = 3600.0
    min_events: int = 10
    warmup: int = 500
    late_tolerance: float = 3600.0
    idle_horizon: float = 30 * 86400.0
    threshold_low: float = 0.5
    threshold_medium: float = 0.7
    threshold_high: float = 0.85
    threshold_critical: float = 0.95
    reset_below: float = 0.3
    member_score: float = 0.35
    link_min_accounts: int = 5
    link_min_share: float = 0.5

    def detector_config(self) -> DetectorConfig:
        return DetectorConfig(
            tick_events=self.tick_events,
            tick_seconds=self.tick_seconds,
            min_events=self.min_events,
            warmup=self.warmup,
            late_tolerance=self.late_tolerance,
            thresholds=Thresholds(
                low=self.threshold_low,
                medium=self.threshold_medium,
                high=self.threshold_high,
                critical=self.threshold_critical,
                reset_below=self.reset_below,
            ),
        )

    def link_rule(self) -> LinkRule:
        return LinkRule(member_score=self.member_score, min_accounts=self.link_min_accounts,
                        min_share=self.link_min_share)

    @property
    def events_topic(self) -> str:
        """Internal topic of validated, text-free events keyed by account."""
        return f"{self.app_id}-events"


HELP: dict[str, Setting] = {
    "bootstrap_servers": Setting("KAFKA_BOOTSTRAP_SERVERS",
                                 "Kafka bootstrap servers, host:port[,host:port]"),
    "app_id": Setting("DISTILLGUARD_APP_ID", "consumer group id and prefix of internal topics"),
    "input_topic": Setting("DISTILLGUARD_INPUT_TOPIC", "topic of request events from the gateway"),
    "dlq_topic": Setting("DISTILLGUARD_DLQ_TOPIC", "dead-letter topic for rejected records"),
    "alerts_topic": Setting("DISTILLGUARD_ALERTS_TOPIC", "topic alerts are sent to"),
    "feedback_topic": Setting("DISTILLGUARD_FEEDBACK_TOPIC", "topic of analyst feedback"),
    "partitions": Setting("DISTILLGUARD_PARTITIONS",
                          "partitions of the internal events topic and the tables "
                          "(fixed once created)"),
    "store": Setting("DISTILLGUARD_STORE",
                     "table store: memory:// (tests) or rocksdb:// (production)"),
    "data_dir": Setting("DISTILLGUARD_DATA_DIR", "directory for table stores and worker state"),
    "web_host": Setting("DISTILLGUARD_WEB_HOST", "address the /metrics web server binds to"),
    "web_port": Setting("DISTILLGUARD_WEB_PORT", "port of the /metrics web server"),
    "log_level": Setting("DISTILLGUARD_LOG_LEVEL", "crit, error, warn, info or debug"),
    "rebalance_timeout": Setting("DISTILLGUARD_REBALANCE_TIMEOUT",
                                 "seconds the group coordinator waits for members to (re)join; "
                                 "some brokers hold a new group's first join this long"),
    "session_timeout": Setting("DISTILLGUARD_SESSION_TIMEOUT",
                               "seconds without heartbeat before the group drops a worker; "
                               "the embedded broker holds a first join half this long"),
    "metrics_interval": Setting("DISTILLGUARD_METRICS_INTERVAL",
                                "seconds between samples of table sizes and consumer lag"),
    "max_request_bytes": Setting("DISTILLGUARD_MAX_REQUEST_BYTES",
                                 "largest record the worker fetches and dead-letters unchanged"),
    "fetch_max_wait": Setting("DISTILLGUARD_FETCH_MAX_WAIT",
                              "seconds the broker may hold a fetch that finds no records; "
                              "a held fetch delays the next one (Faust fixes 1.5)"),
    "producer_batch_bytes": Setting("DISTILLGUARD_PRODUCER_BATCH_BYTES",
                                    "bytes per producer batch and partition; a full batch "
                                    "holds table writes for a broker round trip "
                                    "(Faust's default is 16384)"),
    "standby_replicas": Setting("DISTILLGUARD_STANDBY_REPLICAS",
                                "standby copies of each table partition on other workers: a "
                                "failover resumes from one instead of reading the changelog; "
                                "each copy costs its worker CPU to follow it (0: none)"),
    "tick_events": Setting("DISTILLGUARD_TICK_EVENTS", "score an account every N of its events"),
    "tick_seconds": Setting("DISTILLGUARD_TICK_SECONDS",
                            "...or when this much event time passed since its last score"),
    "min_events": Setting("DISTILLGUARD_MIN_EVENTS", "events an account needs before it is scored"),
    "warmup": Setting("DISTILLGUARD_WARMUP", "score ticks before the population model contributes"),
    "late_tolerance": Setting("DISTILLGUARD_LATE_TOLERANCE",
                              "seconds an event may lag its account's latest event and still "
                              "count in rates and timing; later ones count, but not there"),
    "idle_horizon": Setting("DISTILLGUARD_IDLE_HORIZON",
                            "seconds of event time after an account's or fingerprint's latest "
                            "event before it is forgotten (0: never)"),
    "threshold_low": Setting("DISTILLGUARD_THRESHOLD_LOW", "score of a low alert (action observe)"),
    "threshold_medium": Setting("DISTILLGUARD_THRESHOLD_MEDIUM",
                                "score of a medium alert (throttle)"),
    "threshold_high": Setting("DISTILLGUARD_THRESHOLD_HIGH", "score of a high alert (challenge)"),
    "threshold_critical": Setting("DISTILLGUARD_THRESHOLD_CRITICAL",
                                  "score of a critical alert (suspend)"),
    "reset_below": Setting("DISTILLGUARD_RESET_BELOW",
                           "a score below this ends an account's alert episode"),
    "member_score": Setting("DISTILLGUARD_MEMBER_SCORE",
                            "account score from which it counts as a campaign suspect"),
    "link_min_accounts": Setting("DISTILLGUARD_LINK_MIN_ACCOUNTS",
                                 "suspects a shared fingerprint needs to link them"),
    "link_min_share": Setting("DISTILLGUARD_LINK_MIN_SHARE",
                              "share of a fingerprint's distinct accounts that must be suspects"),
}


def _fields() -> list[Any]:
    return list(fields(Settings))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per setting, its help naming the environment variable and default."""
    group = parser.add_argument_group("settings (flag > environment variable > default)")
    for f in _fields():
        spec = HELP[f.name]
        group.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            type=type(f.default),
            default=None,
            metavar=type(f.default).__name__.upper(),
            help=f"{spec.help} [env {spec.env}, default {f.default}]",
        )


def from_sources(args: argparse.Namespace | None = None,
                 env: dict[str, str] | None = None) -> Settings:
    """Settings from flags, then environment, then defaults; bad values raise ValueError."""
    env = dict(os.environ) if env is None else env
    values: dict[str, Any] = {}
    for f in _fields():
        flag = getattr(args, f.name, None) if args is not None else None
        if flag is not None:
            values[f.name] = flag
            continue
        raw = env.get(HELP[f.name].env)
        if raw is not None and raw != "":
            try:
                values[f.name] = type(f.default)(raw)
            except ValueError:
                raise ValueError(f"{HELP[f.name].env}={raw!r} is not a valid "
                                 f"{type(f.default).__name__}") from None
    settings = replace(Settings(), **values)
    settings.detector_config()  # validates the thresholds
    if settings.partitions < 1:
        raise ValueError("partitions must be >= 1")
    if not 0 <= settings.fetch_max_wait <= 60:
        raise ValueError("fetch_max_wait must be 0..60 seconds")
    if settings.standby_replicas < 0:
        raise ValueError("standby_replicas must be >= 0")
    if not 1024 <= settings.producer_batch_bytes <= 1 << 20:
        raise ValueError("producer_batch_bytes must be 1024..1048576 (the broker's "
                         "default message.max.bytes bounds a batch)")
    return settings


def as_environment(settings: Settings) -> dict[str, str]:
    """The environment variables that make a child `distillguard worker` use `settings`."""
    return {spec.env: str(getattr(settings, name)) for name, spec in HELP.items()}
