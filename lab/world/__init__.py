"""The deterministic payment world: agents, merchants, terminals and cards
generated from a seed, saved as one canonical JSON file every process loads.

    from lab.world import generate, save, load
    world = load("runs/…/world.json")
    t = world.terminal("10000001"); cards = world.cards_for_terminal(t.tid)

This package imports only the standard library, faker and :mod:`lab.errors`.
"""

from __future__ import annotations

from lab.world.amounts import MCC_PROFILES, AmountProfile, draw_amount
from lab.world.fees import FEE_CLASSES, FEE_KINDS, FeeSchedule
from lab.world.generate import DEFAULT_REGIONS, MAX_TERMINALS, generate
from lab.world.model import FORMAT, TXN_TYPES, Agent, Card, Merchant, Params, Terminal, World
from lab.world.pan import luhn_valid, mask_pan, unknown_pan
from lab.world.worldfile import dumps, load, loads, save

__all__ = [
    "DEFAULT_REGIONS",
    "FEE_CLASSES",
    "FEE_KINDS",
    "FORMAT",
    "MAX_TERMINALS",
    "MCC_PROFILES",
    "TXN_TYPES",
    "Agent",
    "AmountProfile",
    "Card",
    "FeeSchedule",
    "Merchant",
    "Params",
    "Terminal",
    "World",
    "draw_amount",
    "dumps",
    "generate",
    "load",
    "loads",
    "luhn_valid",
    "mask_pan",
    "save",
    "unknown_pan",
]
