"""Measurement: benchmarks and experiments over the lower layers, each writing JSON."""
