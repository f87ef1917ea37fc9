"""lab/proxy."""
