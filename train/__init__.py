"""Training for RGMP: stage 1 on simulated pairs from still images, stage 2 recurrent on videos (paper §3.2)."""
