"""vidgan: GAN-based image and video translation."""

__version__ = "0.2.0"
