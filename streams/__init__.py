"""The Faust side: the worker that runs `distillguard.models` over Kafka (`distillguard.streams`)."""
