"""abstream: a streaming A/B testing backend on Kafka, Faust and ClickHouse."""

__version__ = "0.1.0"
