"""Demo and test data generators (procedural GLBs, synthetic videos, training fixtures)."""
