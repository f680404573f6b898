"""Measuring runs and renders: classifier judges, image metrics, CycleGAN and sampler evaluation, reports."""
