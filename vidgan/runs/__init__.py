"""Run folders and what they hold: config, checkpoints, held-out splits; loading trained generators."""
