"""lab/report."""
