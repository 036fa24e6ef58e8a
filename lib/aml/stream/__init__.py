"""Streaming: the Kafka event contract, the producer, and the always-on streaming job."""
