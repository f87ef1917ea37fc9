"""The deterministic payment world: agents, merchants, terminals and cards
generated from a seed, saved as one canonical JSON file every process loads.

    from poslab.world import generate, save, load, mask_pan
    world = generate(42, 200)                 # same seed + size → same bytes
    save(world, "runs/…/world.json")
    world = load("runs/…/world.json")         # ConfigError if unreadable
    t = world.terminal("10000001")            # None if unknown (host: 97)
    cards = world.cards_for_terminal(t.tid)   # the customers this till sees
    fee = world.fees.fee_fen(12_345, "debit", world.merchant(t.mid).fee_class)

Modules: ``model`` (the records and ``World`` with its indexes),
``generate`` (seed → world), ``worldfile`` (the JSON file), ``fees`` (the
merchant discount rate, exact to the fen), ``amounts`` (MCC ticket sizes,
``draw_amount``), ``pan`` (Luhn, masking, BINs), ``places`` (provinces, area
codes, regions), ``spending`` (the cardholders' spending day and the 51
share it keeps), ``names``/``onboarding``/``issuance``/``licence`` (how the
world is drawn), ``summary`` (what ``lab world show`` prints).

Secrets: terminal master keys and card PINs are stored in the clear in the
world file — a lab world, so every mock derives the same keys from one file
without a key-management system. It is the only place they are in the clear;
records' ``repr`` hides them and masks card and account numbers.

This package imports only the standard library, faker and :mod:`poslab.errors`.
"""

from __future__ import annotations

from poslab.world.amounts import MCC_PROFILES, AmountProfile, draw_amount
from poslab.world.fees import FEE_CLASSES, FEE_KINDS, FeeSchedule
from poslab.world.generate import DEFAULT_REGIONS, MAX_TERMINALS, generate
from poslab.world.model import FORMAT, TXN_TYPES, Agent, Card, Merchant, Params, Terminal, World
from poslab.world.pan import luhn_valid, mask_pan, unknown_pan
from poslab.world.spending import CARD_USES_PER_DAY, insufficient_funds_share
from poslab.world.worldfile import dumps, load, loads, save

__all__ = [
    "CARD_USES_PER_DAY",
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
    "insufficient_funds_share",
    "load",
    "loads",
    "luhn_valid",
    "mask_pan",
    "save",
    "unknown_pan",
]
