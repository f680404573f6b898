"""vidgan: GAN-based image and video translation."""

__version__ = "0.7.0"
