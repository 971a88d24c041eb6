"""Pure image-forensics core: numpy, Pillow and codec libraries only (never Qt or torch)."""
