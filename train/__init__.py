"""Data sets, model definitions and training for tinyrnn."""
