"""Evaluation: metrics of generated grids and the evaluation of sync checkpoints."""
