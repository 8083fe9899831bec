"""RGMP: Fast Video Object Segmentation by Reference-Guided Mask Propagation (Oh et al., CVPR 2018)."""

__version__ = "0.1.0"
