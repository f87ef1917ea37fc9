"""mocks/terminal."""
