"""Shared services every layer may use: build tree, quantization rule, converter config."""
