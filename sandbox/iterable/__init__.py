"""A faithful local stand-in for Iterable's API (see ``emulator.IterableEmulator``)."""

from ctsync.sandbox.iterable.emulator import EmulatorError, IterableEmulator

__all__ = ["EmulatorError", "IterableEmulator"]
