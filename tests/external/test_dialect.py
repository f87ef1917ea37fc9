"""The terminals' dialect from the topology (issue 13, item 4): key mode, MAC
algorithm, MACed MTIs, TPDU, header spec version and field-62 layout reach the
fleet's terminal config, which checks them before a terminal starts."""

from __future__ import annotations

import pytest

from poslab.errors import ConfigError
from poslab.iso8583 import KeyLayout, KeySlot, MacAlgorithm
from poslab.mocks.terminal import TerminalConfig
from poslab.stack import topology_from_mapping

DIALECT = {
    "key_mode": "004",
    "mac_algorithm": "x9.19",
    "mac_mtis": ["0200", "0400"],
    "tpdu_destination": "0009",
    "tpdu_source": "0001",
    "header_spec_version": "32",
    "field62_layout": {"pik": [0, 16, 16], "mak": [20, 16, 36], "tdk": [40, 16, 56]},
}


def test_the_topology_dialect_is_what_the_terminals_are_configured_with() -> None:
    topology = topology_from_mapping({"terminal": DIALECT})
    settings = topology.terminal.fleet_settings()
    config = TerminalConfig.from_dict(settings)  # as the fleet builds it in each Locust process
    assert config.key_mode == "004" and config.mac_algorithm is MacAlgorithm.X9_19
    assert config.mac_mtis == frozenset({"0200", "0400"})
    assert (config.tpdu_destination, config.tpdu_source) == ("0009", "0001")
    assert config.header_spec_version == "32"
    assert config.key_layout() == KeyLayout(
        pik=KeySlot(0, 16, 16), mak=KeySlot(20, 16, 36), tdk=KeySlot(40, 16, 56)
    )
    assert topology_from_mapping({}).terminal.fleet_settings() == {}, "defaults: the lab's CUP"
    assert TerminalConfig.from_dict({}).key_layout() == KeyLayout.for_mode("003")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mac_algorithm": "md5"}, "terminal.mac_algorithm"),
        ({"tpdu_destination": "03"}, "terminal.tpdu_destination"),
        ({"key_mode": "002"}, "terminal.key_mode"),
        ({"field62_layout": {"pik": [0, 16]}}, "terminal.field62_layout"),
    ],
)
def test_a_bad_dialect_is_refused_naming_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        topology_from_mapping({"terminal": change})


def test_a_layout_without_a_mac_key_is_refused_before_any_sign_on() -> None:
    with pytest.raises(ConfigError, match="field62_layout needs pik and mak"):
        TerminalConfig.from_dict({"field62_layout": {"pik": [0, 16, 16]}})
