"""The issuer's decisions, without sockets: holds, declines, idempotence."""

from __future__ import annotations

import dataclasses

import pytest

from poslab.iso8583 import encrypt_pin_block, generate_key
from poslab.mocks.issuer.accounts import Accounts, balance_field
from poslab.world import World, generate

ZPK = generate_key(16)


@pytest.fixture(scope="module")
def world() -> World:
    base = generate(3, 4, low_funds_share=0.0, expired_share=0.0, lost_share=0.0)
    cards = list(base.cards)
    cards[1] = dataclasses.replace(cards[1], expiry="2001")
    cards[2] = dataclasses.replace(cards[2], status="lost")
    cards[3] = dataclasses.replace(cards[3], balance_fen=1_000)
    return dataclasses.replace(base, cards=tuple(cards))


def _pin(world: World, index: int, pin: str | None = None) -> bytes:
    card = world.cards[index]
    return encrypt_pin_block(pin or card.pin, card.pan, ZPK)


def test_purchase_holds_and_reversal_releases(world: World) -> None:
    accounts = Accounts(world, ZPK)
    card = world.cards[3]
    first = accounts.purchase("A", card.pan, 600, _pin(world, 3), 1.0)
    assert first.rc == "00" and first.auth is not None and first.auth.status == "held"
    assert accounts.available(3) == 400
    assert accounts.purchase("B", card.pan, 401, None, 1.0).rc == "51"
    # the same reference again: the same answer, no second hold
    again = accounts.purchase("A", card.pan, 600, None, 2.0)
    assert (again.rc, again.auth_code, again.auth) == ("00", first.auth_code, None)
    assert accounts.available(3) == 400
    reversed_ = accounts.reverse("A", 3.0)
    assert (
        reversed_.rc == "00" and reversed_.auth is not None and reversed_.auth.status == "reversed"
    )
    assert accounts.available(3) == 1_000
    repeat = accounts.reverse("A", 4.0)
    assert (repeat.rc, repeat.auth) == ("00", None)
    assert accounts.available(3) == 1_000


def test_declines_in_order(world: World) -> None:
    accounts = Accounts(world, ZPK)
    good, expired, lost = world.cards[0], world.cards[1], world.cards[2]
    assert accounts.purchase("1", "6299990000000004", 1, None, 0).rc == "14"
    assert accounts.purchase("2", lost.pan, 1, _pin(world, 2), 0).rc == "41"
    assert accounts.purchase("3", expired.pan, 1, _pin(world, 1), 0).rc == "54"
    wrong = "000000" if good.pin != "000000" else "111111"
    assert accounts.purchase("4", good.pan, 1, _pin(world, 0, wrong), 0).rc == "55"
    assert accounts.purchase("5", good.pan, 1, b"\x00" * 8, 0).rc == "99"
    assert accounts.purchase("6", good.pan, good.balance_fen + 1, None, 0).rc == "51"
    assert accounts.purchase("7", good.pan, 1, None, 0).rc == "00"
    # declined authorisations are recorded (issuer.jsonl shows them) but hold nothing
    assert accounts.auths["6"].status == "declined"
    assert accounts.available(0) == good.balance_fen - 1


def test_reversal_before_authorisation_leaves_a_tombstone(world: World) -> None:
    accounts = Accounts(world, ZPK)
    card = world.cards[0]
    first = accounts.reverse("late", 1.0)
    assert (first.rc, first.tombstone) == ("25", "late")
    assert accounts.reverse("late", 1.5).tombstone is None  # remembered once
    assert accounts.purchase("late", card.pan, 100, None, 2.0).rc == "94"
    assert accounts.available(0) == card.balance_fen


def test_void_release_and_rehold(world: World) -> None:
    accounts = Accounts(world, ZPK)
    card = world.cards[0]
    accounts.purchase("S", card.pan, 700, None, 0)
    assert accounts.release("S", 1).auth.status == "released"  # type: ignore[union-attr]
    assert accounts.available(0) == card.balance_fen
    assert accounts.release("S", 2).rc == "00"
    assert accounts.rehold("S", 3).auth.status == "held"  # type: ignore[union-attr]
    assert accounts.available(0) == card.balance_fen - 700
    assert accounts.rehold("S", 4).auth is None
    assert accounts.release("nope", 5).rc == "25" and accounts.rehold("nope", 5).rc == "25"
    assert accounts.reverse("S", 6).auth.status == "reversed"  # type: ignore[union-attr]
    assert accounts.rehold("S", 7).auth is None  # a reversed sale stays reversed


def test_restore_rebuilds_the_holds(world: World) -> None:
    accounts = Accounts(world, ZPK)
    card = world.cards[0]
    accounts.purchase("X", card.pan, 250, None, 0)
    accounts.purchase("Y", card.pan, 50, None, 0)
    accounts.reverse("Y", 1)
    again = Accounts(world, ZPK)
    again.restore(list(accounts.auths.values()), set(accounts.tombstones))
    assert again.available(0) == card.balance_fen - 250
    assert again.next_id == accounts.next_id


def test_decline_share_and_balance_field(world: World) -> None:
    accounts = Accounts(world, ZPK, seed=1)
    accounts.decline_share, accounts.decline_rc = 1.0, "05"
    assert accounts.purchase("D", world.cards[0].pan, 10, None, 0).rc == "05"
    assert balance_field(12_345) == "1002156C000000012345"
    assert balance_field(-5) == "1002156D000000000005"
    inquiry = Accounts(world, ZPK).balance(world.cards[0].pan, _pin(world, 0))
    assert inquiry.rc == "00" and int(inquiry.balance[8:]) == world.cards[0].balance_fen
