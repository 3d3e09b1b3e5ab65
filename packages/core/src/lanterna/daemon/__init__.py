"""The memory daemon: memory commands answered by a warm per-user process (``lanterna.daemon.client``)."""
