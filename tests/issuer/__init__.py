"""Tests of mocks.issuer."""
