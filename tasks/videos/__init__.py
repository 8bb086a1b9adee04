"""The video pipeline: probing, decoding, curation, clips and pseudo-4D grids."""
