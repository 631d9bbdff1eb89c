"""Kafka security settings come from the environment and are checked up front."""

from __future__ import annotations

import pytest

from distillguard.streams.security import KafkaSecurity


def test_plaintext_by_default() -> None:
    sec = KafkaSecurity.from_env({})
    assert sec.aiokafka_kwargs() == {"security_protocol": "PLAINTEXT"}
    assert sec.faust_credentials() is None


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_ssl(mechanism: str) -> None:
    sec = KafkaSecurity.from_env({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                                  "KAFKA_SASL_MECHANISM": mechanism,
                                  "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "hunter2"})
    kw = sec.aiokafka_kwargs()
    assert kw["security_protocol"] == "SASL_SSL" and kw["sasl_mechanism"] == mechanism
    assert kw["ssl_context"] is not None
    creds = sec.faust_credentials()
    assert creds.username == "u" and creds.ssl_context is not None
    assert "hunter2" not in repr(sec)


def test_ssl_only() -> None:
    sec = KafkaSecurity.from_env({"KAFKA_SECURITY_PROTOCOL": "ssl"})
    assert sec.aiokafka_kwargs()["security_protocol"] == "SSL"
    assert sec.faust_credentials() is not None


@pytest.mark.parametrize("env, message", [
    ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA_SASL_USERNAME"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "GSSAPI",
      "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}, "KAFKA_SASL_MECHANISM"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"},
     "KAFKA_SSL_CAFILE"),
])
def test_bad_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KafkaSecurity.from_env(env)
