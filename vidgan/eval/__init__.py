"""Measuring runs and renders: eval options, classifier judges, image metrics, CycleGAN and sampler evaluation,
flicker of rendered clips, reports."""
