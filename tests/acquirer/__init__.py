"""Tests of mocks.acquirer against the real processes."""
