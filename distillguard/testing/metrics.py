"""A worker's web pages and its Prometheus text, read the one way tests and benchmarks share.

Samples are keyed as the exposition writes them: `name{label="value",...}` or `name`.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distillguard.streams.settings import Settings

_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def fetch(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """(HTTP status, body) of a GET; (0, b"") if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def parse_metrics(text: str) -> dict[str, float]:
    """Every sample of a Prometheus text exposition: `name{labels}` (or `name`) -> value.

    Comments and lines without a numeric value are skipped.

    >>> parse_metrics('# HELP x\\nx_total{a="1"} 2.0\\nup 1\\nbad NaN-ish')
    {'x_total{a="1"}': 2.0, 'up': 1.0}
    """
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            try:
                out[series] = float(value)
            except ValueError:
                continue
    return out


def scrape_metrics(host: str, port: int, timeout: float = 5.0) -> dict[str, float]:
    """Every sample on a worker's /metrics (see `parse_metrics`); {} if it does not answer 200."""
    status, body = fetch(f"http://{host}:{port}/metrics", timeout=timeout)
    return parse_metrics(body.decode(errors="replace")) if status == 200 else {}


def family(samples: dict[str, float], name: str) -> dict[str, float]:
    """The samples of one metric family, keyed as in `scrape_metrics`."""
    return {k: v for k, v in samples.items() if k == name or k.startswith(name + "{")}


def labels_of(series: str) -> dict[str, str]:
    """The labels of a sample key.

    >>> labels_of('lag{topic="in",partition="0"}')
    {'topic': 'in', 'partition': '0'}
    """
    _, brace, rest = series.partition("{")
    return dict(_LABEL.findall(rest)) if brace else {}


def values(samples: dict[str, float], name: str, **labels: str) -> list[float]:
    """The values of one family's samples whose labels include every `labels` pair."""
    return [v for k, v in family(samples, name).items()
            if all(labels_of(k).get(key) == want for key, want in labels.items())]


def total(samples: dict[str, float], name: str, **labels: str) -> float | None:
    """A family summed over the labels not given; None if no sample matches (not yet exported).

    >>> m = {'lag{topic="in",partition="0"}': 3.0, 'lag{topic="in",partition="1"}': 4.0,
    ...      'lag{topic="out",partition="0"}': 1.0, 'lag_max': 9.0}
    >>> total(m, "lag"), total(m, "lag", topic="out"), total(m, "lag", topic="x")
    (8.0, 1.0, None)
    """
    found = values(samples, name, **labels)
    return sum(found) if found else None


def metric_values(settings: Settings, name: str) -> list[float]:
    """Values of one metric family on the worker of `settings` (empty if unreachable)."""
    return values(scrape_metrics(settings.web_host, settings.web_port), name)
