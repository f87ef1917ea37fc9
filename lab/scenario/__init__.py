"""lab/scenario."""
