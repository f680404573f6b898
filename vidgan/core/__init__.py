"""The lowest layer: errors, progress output, atomic files, devices, torchrun processes, background threads."""
