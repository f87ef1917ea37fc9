"""mocks/agent."""
