"""Test data for the lab's own tests and benchmarks — never imported by the product.

:func:`write_run` writes a run directory exactly as ``docs/run-directory.md``
defines it (journal, fleet journal, ledger export, issuer holds, settlement),
for the :class:`SyntheticScenario` list it is given: clean, with a fault and a
recovery delay, or with one integrity failure injected (:data:`INJECTIONS`),
up to a million transactions. Scoring, reports and the ledger sources are
tested and benchmarked on these runs; an import-linter contract keeps every
product package off this one.
"""

from poslab.testing.synthetic import INJECTIONS, write_run
from poslab.testing.synthetic_scenario import SyntheticScenario

__all__ = ["INJECTIONS", "SyntheticScenario", "write_run"]
