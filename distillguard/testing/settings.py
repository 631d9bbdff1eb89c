"""Throwaway worker settings and their topics, so runs sharing one broker never interfere."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from distillguard.streams.admin import ensure_topics
from distillguard.streams.settings import Settings, make_settings
from distillguard.testing.broker import free_port


def unique_settings(bootstrap: str, data_dir: Path | str, *, prefix: str = "dg-test",
                    **over: Any) -> Settings:
    """Settings of a fresh worker: its own group (app id), topics, web port and data dir.

    Names are `<prefix>-<tag>` and `<prefix>-<role>-<tag>` with a random tag. Group timeouts
    are short (a test or benchmark joins and rejoins in seconds) and metrics are sampled every
    second. `over` sets any setting by name, detection ones (`warmup`, ...) included; an
    `app_id` given there puts several workers in one group.
    """
    tag = uuid.uuid4().hex[:8]
    values: dict[str, Any] = dict(
        bootstrap_servers=bootstrap, app_id=f"{prefix}-{tag}",
        input_topic=f"{prefix}-requests-{tag}", dlq_topic=f"{prefix}-dlq-{tag}",
        alerts_topic=f"{prefix}-alerts-{tag}", feedback_topic=f"{prefix}-feedback-{tag}",
        partitions=1, data_dir=str(data_dir), web_port=free_port(), rebalance_timeout=3.0,
        session_timeout=6.0, log_level="info", metrics_interval=1.0,
    )
    values.update(over)
    return make_settings(**values)


def worker_topics(settings: Settings, input_partitions: int = 1) -> dict[str, int]:
    """The topics a worker of `settings` needs before it starts -> partitions.

    Its input topic and three side topics (DLQ, alerts, feedback); the worker makes its
    internal topics itself.
    """
    return {settings.input_topic: input_partitions, settings.dlq_topic: 1,
            settings.alerts_topic: 1, settings.feedback_topic: 1}


def create_topics(settings: Settings, input_partitions: int = 1) -> None:
    """Create `worker_topics(settings)` where missing; existing topics are left as they are."""
    asyncio.run(ensure_topics(settings.bootstrap_servers,
                              worker_topics(settings, input_partitions)))
