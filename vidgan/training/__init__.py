"""Training: typed options, one task per model kind, the shared loop, data and augmentation, losses, plots."""
