"""The toxics, one per module, registered by their Toxiproxy type name.

Toxiproxy's eight (``latency``, ``bandwidth``, ``slow_close``, ``timeout``,
``reset_peer``, ``slicer``, ``limit_data``, ``noop``) with its exact
attributes and units, and the lab's ISO 8583-aware ones (``iso_drop``,
``iso_delay``, ``iso_corrupt_mac``; see ``poslab/proxy/README.md``).
"""

from __future__ import annotations

from poslab.proxy.toxics import (  # noqa: F401  (imported to register)
    bandwidth,
    iso_corrupt_mac,
    iso_delay,
    iso_drop,
    latency,
    limit_data,
    noop,
    reset_peer,
    slicer,
    slow_close,
    timeout,
)
from poslab.proxy.toxics.base import Toxic, ToxicStub
from poslab.proxy.toxics.registry import TOXIC_TYPES, register, toxic_type

__all__ = ["TOXIC_TYPES", "Toxic", "ToxicStub", "register", "toxic_type"]
