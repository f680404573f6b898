"""Reading and writing footage and images: video files (PyAV), image sequences, image folders, frame extraction."""
