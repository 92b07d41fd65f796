"""Pure statistics on per-variant sufficient statistics (numpy and scipy only, no I/O)."""
