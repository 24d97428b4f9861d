"""The training loop every neural model is fitted by, with what it needs: the
optimiser, checkpoints, the epoch log, devices, data parallelism and CPU threads."""
