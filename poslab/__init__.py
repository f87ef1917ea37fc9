"""POS resilience lab: chaos testing for card-present payment systems."""

__version__ = "0.1.0"
