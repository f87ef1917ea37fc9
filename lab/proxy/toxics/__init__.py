"""lab/proxy/toxics."""
