"""Rufina ALPR: plate reading, vehicle tracking and traffic monitoring on top of Frigate."""

__version__ = "0.1.0"
