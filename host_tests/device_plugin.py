"""pytest plugin for the device tests: ``--device`` picks where they run.

Load it from host_tests/conftest.py with ``pytest_plugins = ["device_plugin"]``.

    --device mps2-an386      (default) the emulated Cortex-M4 in QEMU; any QEMU env name works
    --device /dev/ttyACM0    a real board running the tinyrnn firmware (flash it first:
                             tinyrnn device info --env nano33ble --port /dev/ttyACM0 --flash)
"""

from __future__ import annotations

import pytest

DEFAULT_DEVICE = "mps2-an386"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tinyrnn device")
    group.addoption(
        "--device",
        default=DEFAULT_DEVICE,
        help="QEMU board env (default mps2-an386) or a serial port path for real hardware",
    )
    group.addoption(
        "--device-env",
        default=None,
        help="PlatformIO env of the real board on --device (for reports only)",
    )


def device_option(config: pytest.Config) -> str:
    """The --device value, or the default when this plugin is not loaded."""
    return str(config.getoption("--device", default=DEFAULT_DEVICE))


def is_serial_port(value: str) -> bool:
    return value.startswith(("/dev/", "COM", "socket://", "rfc2217://"))
