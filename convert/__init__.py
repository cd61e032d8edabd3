"""Quantization, TFLite conversion, C arrays, model inspection and ahead-of-time compilation."""
