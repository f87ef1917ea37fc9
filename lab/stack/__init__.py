"""lab/stack."""
