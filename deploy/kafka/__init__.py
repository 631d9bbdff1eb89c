"""Apache Kafka for tests and local runs: see launch.py (importable as deploy.kafka.launch)."""
