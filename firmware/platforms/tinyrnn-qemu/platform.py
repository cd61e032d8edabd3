# The class name is derived from platform.json's "name" (tinyrnn-qemu -> Tinyrnnqemu).
from platformio.public import PlatformBase


class TinyrnnqemuPlatform(PlatformBase):
    pass
