"""lab/scoring."""
