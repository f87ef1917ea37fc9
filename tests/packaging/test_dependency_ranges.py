"""What the dependency ranges in pyproject.toml rest on.

``faker>=30`` rather than a pin: the world takes only faker's zh_CN word lists
(and one seeded company name and phone number for the agents), and those were
the same from faker 30.0 through 40.54. If a faker release changes them, the
same seed names merchants differently on two machines — nothing is scored on a
name, but a team comparing two worlds would be surprised: this test says so,
and the range in pyproject.toml gets a ceiling below that release.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

import faker
from faker.providers.address.zh_CN import Provider as AddressWords
from faker.providers.company.zh_CN import Provider as CompanyWords
from faker.providers.person.zh_CN import Provider as PersonWords
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
# sha256 of the lists below under faker 30.0.0 and 40.54.0 alike
ZH_CN_WORDS = "97765b2d39e3"


def _requirements() -> dict[str, Requirement]:
    doc = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    reqs = (Requirement(r) for r in doc["project"]["dependencies"])
    return {r.name.lower(): r for r in reqs}


def test_fakers_zh_cn_words_are_the_ones_the_range_was_checked_with() -> None:
    surnames = PersonWords.last_names
    words = [
        list(surnames.items()) if isinstance(surnames, dict) else list(surnames),
        list(PersonWords.first_names),
        list(CompanyWords.company_prefixes),
        list(AddressWords.districts),
    ]
    digest = hashlib.sha256(json.dumps(words, ensure_ascii=False).encode()).hexdigest()
    assert digest[:12] == ZH_CN_WORDS, (
        f"faker {faker.VERSION} changed its zh_CN word lists: worlds get other names; "
        "cap faker below this release in pyproject.toml"
    )


def test_no_dependency_is_pinned_exactly() -> None:
    pinned = [
        str(r) for r in _requirements().values() if any(s.operator == "==" for s in r.specifier)
    ]
    assert pinned == [], "ranges, not pins: the lab installs into teams' own environments"


def test_the_floors_the_code_needs() -> None:
    reqs = _requirements()
    # poslab/iso8583/des.py imports TripleDES from cryptography.hazmat.decrepit (43+)
    assert "42.0.0" not in reqs["cryptography"].specifier
    assert "43.0.0" in reqs["cryptography"].specifier
    # uvloop does not install on Windows; the servers fall back to asyncio
    marker = reqs["uvloop"].marker
    assert marker is not None
    assert not marker.evaluate({"sys_platform": "win32"})
    assert marker.evaluate({"sys_platform": "linux"})
