"""Firmware build and device link: PlatformIO offline, QEMU boards and real boards over serial."""
