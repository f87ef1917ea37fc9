"""The application faults of docs/faults.md, declared once for both sides.

A mock's admin API validates ``POST /admin/faults/<name>`` bodies with these
classes, and the scenario engine validates a scenario's ``params`` with the
same ones before anything starts (``poslab.scenario.fault_actions``). The
package stands on pydantic alone (an import-linter contract): the mocks and
the scenario engine, which may not import each other, both import it.

    ServiceFamily     acquirer | issuer | agent (both agent instances)
    FaultParams       base of every params model (scenario actions too)
    └── AppFault      one class per application fault, registered by
                      (family, name) in APP_FAULTS
    FaultError        a refused fault request, with its HTTP status
"""

from __future__ import annotations

from poslab.app_faults import acquirer, agent, issuer
from poslab.app_faults.base import (
    AppFault,
    FaultParams,
    Millis,
    RegionList,
    ServiceFamily,
    Share,
    SoftwareVersion,
)
from poslab.app_faults.registry import (
    APP_FAULTS,
    FaultError,
    fault_type,
    parse_fault,
    problems,
    register,
)

__all__ = [
    "APP_FAULTS",
    "AppFault",
    "FaultError",
    "FaultParams",
    "Millis",
    "RegionList",
    "ServiceFamily",
    "Share",
    "SoftwareVersion",
    "acquirer",
    "agent",
    "fault_type",
    "issuer",
    "parse_fault",
    "problems",
    "register",
]
