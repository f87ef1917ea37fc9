"""Tests of poslab.mocks.acquirer against the real processes."""
