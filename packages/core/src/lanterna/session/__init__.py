"""Session memory: what is happening in the repository right now, read from git."""
