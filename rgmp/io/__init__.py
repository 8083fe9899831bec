"""Video, frame-folder and DAVIS mask input/output."""
