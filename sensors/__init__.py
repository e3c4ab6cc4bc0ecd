"""Where readings come from: the `Reading` type, decoders for real device payloads, the
site/room/sensor registry, calibration, and the simulator."""

from repoclimate.sensors.reading import DecodeError, Reading

__all__ = ["DecodeError", "Reading"]
