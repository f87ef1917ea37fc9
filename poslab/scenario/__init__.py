"""poslab/scenario."""
