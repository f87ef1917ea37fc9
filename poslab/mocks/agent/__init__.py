"""poslab/mocks/agent."""
