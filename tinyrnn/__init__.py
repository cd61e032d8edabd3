"""tinyrnn: small recurrent networks from Keras to int8 firmware, measured on the device."""

__version__ = "0.1.0"
