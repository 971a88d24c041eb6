"""Analysis views beside the ELA (quality grid and the registry's analyses)."""
