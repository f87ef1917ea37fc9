"""The scenario catalogue shipped with the lab: one YAML file per failure mode
and ``suites/`` (``gate``, ``full``).

Package data, not code: :mod:`poslab.scenario.spec.loader` finds this
directory with :mod:`importlib.resources`, so an installed lab (a wheel in any
virtualenv) reads the same catalogue as a source checkout. ``--catalogue DIR``
or ``LAB_SCENARIOS`` points every command at a team's own directory instead.
"""
