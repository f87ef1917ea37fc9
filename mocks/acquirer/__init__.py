"""mocks/acquirer."""
