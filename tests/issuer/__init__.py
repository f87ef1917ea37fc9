"""Tests of poslab.mocks.issuer."""
