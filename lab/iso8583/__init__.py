"""lab/iso8583."""
