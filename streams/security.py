"""Kafka security (SSL, SASL_PLAINTEXT, SASL_SSL with PLAIN or SCRAM) from the environment only.

Secrets never come from flags (they would show in `ps` and shell history) or
files in the repository: only these variables, read at start-up.

| variable | meaning |
| --- | --- |
| `KAFKA_SECURITY_PROTOCOL` | `PLAINTEXT` (default), `SSL`, `SASL_PLAINTEXT` or `SASL_SSL` |
| `KAFKA_SASL_MECHANISM` | `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` |
| `KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD` | SASL credentials |
| `KAFKA_SSL_CAFILE` | CA bundle to verify the brokers (default: system CAs) |
| `KAFKA_SSL_CERTFILE`, `KAFKA_SSL_KEYFILE` | client certificate and key, for mutual TLS |
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True, repr=False)
class KafkaSecurity:
    """How to reach the brokers: protocol, SASL mechanism and credentials, TLS files.

    The repr shows only protocol and mechanism, so logging one leaks no credential.
    """

    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: str | None = None
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None

    def __repr__(self) -> str:  # never print the password
        return f"KafkaSecurity(protocol={self.protocol!r}, mechanism={self.mechanism!r})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaSecurity:
        """Read and check the variables; a ValueError names what is wrong."""
        env = os.environ if env is None else env
        protocol = env.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper() or "PLAINTEXT"
        if protocol not in PROTOCOLS:
            raise ValueError(f"KAFKA_SECURITY_PROTOCOL={protocol!r}: choose from {PROTOCOLS}")
        sec = cls(
            protocol=protocol,
            mechanism=(env.get("KAFKA_SASL_MECHANISM") or "PLAIN").upper()
            if protocol.startswith("SASL") else None,
            username=env.get("KAFKA_SASL_USERNAME") or None,
            password=env.get("KAFKA_SASL_PASSWORD") or None,
            cafile=env.get("KAFKA_SSL_CAFILE") or None,
            certfile=env.get("KAFKA_SSL_CERTFILE") or None,
            keyfile=env.get("KAFKA_SSL_KEYFILE") or None,
        )
        if sec.mechanism is not None:
            if sec.mechanism not in MECHANISMS:
                raise ValueError(
                    f"KAFKA_SASL_MECHANISM={sec.mechanism!r}: choose from {MECHANISMS}")
            if not (sec.username and sec.password):
                raise ValueError(f"{protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
        for name in ("cafile", "certfile", "keyfile"):
            path = getattr(sec, name)
            if path and not os.path.isfile(path):
                raise ValueError(f"KAFKA_SSL_{name.upper()}={path!r} is not a readable file")
        return sec

    @property
    def uses_ssl(self) -> bool:
        """Whether the connection is TLS (SSL or SASL_SSL)."""
        return self.protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context that verifies the brokers (and presents the client certificate,
        if any); None without TLS."""
        if not self.uses_ssl:
            return None
        ctx = ssl.create_default_context(cafile=self.cafile)
        if self.certfile:
            ctx.load_cert_chain(self.certfile, self.keyfile)
        return ctx

    def faust_credentials(self) -> Any:
        """What `faust.App(broker_credentials=...)` takes, or None for PLAINTEXT."""
        import faust

        if self.mechanism is not None:
            return faust.SASLCredentials(username=self.username, password=self.password,
                                         mechanism=self.mechanism, ssl_context=self.ssl_context())
        if self.uses_ssl:
            return faust.SSLCredentials(self.ssl_context())
        return None

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka clients (admin, producers, consumers)."""
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_ssl:
            kwargs["ssl_context"] = self.ssl_context()
        if self.mechanism is not None:
            kwargs.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                          sasl_plain_password=self.password)
        return kwargs
