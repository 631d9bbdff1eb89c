"""Worker settings: one typed object, filled from defaults, environment, then flags.

Every setting is declared once, as a field with its `Spec` (help, environment
variable, range): the worker's own here, the detection settings in
`distillguard.models.config.DetectorConfig`, which `Settings.detection` holds.
`DECLARED` lists both; flags, environment variables, `--help`, the child
environment of a spawned worker and the README's table all come from it.
Flags win over the environment; a value outside its range is an error naming
the flag and the variable (the command exits 2).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import Field, dataclass, field
from typing import Any

from distillguard.models.config import (
    DetectorConfig,
    SettingError,
    Spec,
    check_ranges,
    declared,
    default_of,
    setting,
)
from distillguard.models.events import DAY, MAX_RECORD_BYTES

LOG_LEVELS = ("crit", "error", "warn", "info", "debug")
COMPRESSION = ("none", "gzip", "snappy", "lz4", "zstd")


@dataclass(frozen=True)
class Settings:
    """The worker's settings; `detection` holds the detector's (shared with `replay`)."""

    bootstrap_servers: str = setting("127.0.0.1:9092",
                                     "Kafka bootstrap servers, host:port[,host:port]",
                                     env="KAFKA_BOOTSTRAP_SERVERS")
    app_id: str = setting("distillguard", "consumer group id and prefix of internal topics")
    input_topic: str = setting("llm.requests", "topic of request events from the gateway")
    dlq_topic: str = setting("llm.requests.dlq", "dead-letter topic for rejected records")
    alerts_topic: str = setting("extraction.alerts", "topic alerts are sent to")
    feedback_topic: str = setting("extraction.feedback", "topic of analyst feedback")
    feedback_key: str = setting("", "HMAC-SHA256 key every feedback record must be signed "
                                    "with (header x-distillguard-signature): the key, or "
                                    "@FILE to read it from FILE (preferred: a flag's value "
                                    "shows in ps); unset: feedback is unauthenticated",
                                secret=True)
    partitions: int = setting(4, "partitions of the internal events topic and the tables "
                                 "(fixed once created)", lo=1)
    store: str = setting("memory://", "table store: memory:// (tests) or rocksdb:// "
                                      "(production)")
    data_dir: str = setting("distillguard-data", "directory for table stores and worker state")
    web_host: str = setting("127.0.0.1", "address the /metrics web server binds to")
    web_port: int = setting(6066, "port of the /metrics web server", lo=0, hi=65535)
    log_level: str = setting("warn", "crit, error, warn, info or debug", choices=LOG_LEVELS)
    rebalance_timeout: float = setting(60.0, "seconds the group coordinator waits for members "
                                             "to (re)join; some brokers hold a new group's "
                                             "first join this long", lo=1.0)
    session_timeout: float = setting(60.0, "seconds without heartbeat before the group drops a "
                                           "worker; the embedded broker holds a first join "
                                           "half this long", lo=1.0)
    metrics_interval: float = setting(10.0, "seconds between samples of table sizes and "
                                            "consumer lag", lo=0.1)
    max_request_bytes: int = setting(8 << 20, "largest record the worker fetches and "
                                              "dead-letters unchanged", lo=MAX_RECORD_BYTES)
    fetch_max_wait: float = setting(0.1, "seconds the broker may hold a fetch that finds no "
                                         "records; a held fetch delays the next one (Faust "
                                         "fixes 1.5)", lo=0.0, hi=60.0)
    producer_batch_bytes: int = setting(256 << 10, "bytes per producer batch and partition; a "
                                                   "full batch holds table writes for a broker "
                                                   "round trip (Faust's default is 16384; the "
                                                   "broker's default message.max.bytes bounds "
                                                   "it)", lo=1024, hi=1 << 20)
    producer_compression: str = setting("none", "compression of what the worker produces "
                                                "(alerts, dead letters, internal topics, "
                                                "changelogs): none, gzip, snappy, lz4 or zstd; "
                                                "it reads every codec whatever this says",
                                        choices=COMPRESSION)
    standby_replicas: int = setting(1, "standby copies of each table partition on other "
                                       "workers: a failover resumes from one instead of reading "
                                       "the changelog; each copy costs its worker CPU to follow "
                                       "it (0: none)", lo=0)
    idle_horizon: float = setting(30 * DAY, "seconds of event time after an account's or "
                                            "fingerprint's latest event before it is forgotten "
                                            "(0: never)", lo=0.0)
    detection: DetectorConfig = field(default_factory=DetectorConfig)

    def __post_init__(self) -> None:
        check_ranges(self)

    @property
    def events_topic(self) -> str:
        """Internal topic of validated, text-free events keyed by account."""
        return f"{self.app_id}-events"

    def feedback_signing_key(self) -> bytes | None:
        """The feedback key's bytes (read from its file for `@FILE`); None when unset.

        A ValueError names the flag, the variable and the file, never the key.
        """
        from distillguard.models.feedback import load_key

        try:
            return load_key(self.feedback_key)
        except ValueError as exc:
            d = DECLARED["feedback_key"]
            raise ValueError(f"{d.flag} / {d.env}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Declared:
    """One setting as a user meets it: its name, flag, variable, type, default and help."""

    name: str
    field: Field[Any]
    spec: Spec
    detection: bool  # a field of `Settings.detection` rather than of `Settings`

    @property
    def env(self) -> str:
        """The setting's environment variable."""
        return self.spec.env_name(self.name)

    @property
    def flag(self) -> str:
        """The setting's command-line flag: `--` and its name with dashes."""
        return "--" + self.name.replace("_", "-")

    @property
    def default(self) -> Any:
        """The setting's default value."""
        return default_of(self.field)

    @property
    def type(self) -> type:
        """What a flag or variable is parsed with: the type of the default."""
        return type(self.default)

    @property
    def help(self) -> str:
        """The setting's help text (also its line in `--help` and the README)."""
        return self.spec.help

    @property
    def shown_default(self) -> str:
        """The default as `--help` and the README show it (an empty string as `""`)."""
        return '""' if self.default == "" else str(self.default)

    def value(self, settings: Settings) -> Any:
        """The setting's value in `settings`."""
        return getattr(settings.detection if self.detection else settings, self.name)


#: every setting, by name: the worker's, then the detector's
DECLARED: dict[str, Declared] = {
    f.name: Declared(f.name, f, spec, owner is DetectorConfig)
    for owner in (Settings, DetectorConfig) for f, spec in declared(owner)
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per setting, its help naming the environment variable and default."""
    group = parser.add_argument_group("settings (flag > environment variable > default)")
    for d in DECLARED.values():
        group.add_argument(d.flag, dest=d.name, type=d.type, default=None,
                           metavar=d.type.__name__.upper(),
                           help=f"{d.help} [env {d.env}, default {d.shown_default}]")


def make_settings(**values: Any) -> Settings:
    """Settings from values by name, worker and detection settings alike.

    A value outside its range raises ValueError naming the flag and the variable.
    """
    unknown = set(values) - set(DECLARED)
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    worker = {k: v for k, v in values.items() if not DECLARED[k].detection}
    detection = {k: v for k, v in values.items() if DECLARED[k].detection}
    try:
        return Settings(**worker, detection=DetectorConfig(**detection))
    except SettingError as exc:
        d = DECLARED[exc.name]
        raise ValueError(f"{d.flag} / {d.env}: {exc}") from None


def from_sources(args: argparse.Namespace | None = None,
                 env: dict[str, str] | None = None) -> Settings:
    """Settings from flags, then environment, then defaults (see `make_settings`)."""
    env = dict(os.environ) if env is None else env
    values: dict[str, Any] = {}
    for d in DECLARED.values():
        value = getattr(args, d.name, None) if args is not None else None
        if value is None:
            raw = env.get(d.env)
            if raw is None or raw == "":
                continue
            try:
                value = d.type(raw)
            except ValueError:
                raise ValueError(f"{d.env}={raw!r} is not a valid {d.type.__name__}") from None
        values[d.name] = value
    return make_settings(**values)


def markdown_table() -> str:
    """Every setting as the README's table: variable, flag, default, meaning."""
    rows = ["| environment variable | flag | default | meaning |", "| --- | --- | --- | --- |"]
    rows += [f"| `{d.env}` | `{d.flag}` | `{d.shown_default}` | {d.help} |"
             for d in DECLARED.values()]
    return "\n".join(rows) + "\n"


def as_environment(settings: Settings) -> dict[str, str]:
    """The environment variables that make a child `distillguard worker` use `settings`."""
    return {d.env: str(d.value(settings)) for d in DECLARED.values()}
