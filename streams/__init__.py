"""The Faust side: the worker running `distillguard.models` over Kafka (`distillguard.streams`)."""
