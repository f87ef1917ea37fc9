"""mocks/issuer."""
