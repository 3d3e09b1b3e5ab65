"""The core's default behaviour, registered as plugins with ``trylast`` implementations."""
