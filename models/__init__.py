"""What the detector runs, as plain Python: no Kafka, no Faust (`distillguard.models`)."""
