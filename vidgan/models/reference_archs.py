"""Names of the reference CycleGAN generator layouts that `vidgan render --arch` loads (vidgan.models.reference).

Kept apart from the networks, which need torch, so the command line can offer them as choices without it.
"""

REFERENCE_ARCHS = ("resnet_9blocks", "resnet_6blocks", "unet_128", "unet_256")
