"""Plain nn.Modules, each built from a small config dataclass; no I/O and no training logic here."""
