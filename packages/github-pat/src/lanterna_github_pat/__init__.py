"""Read GitHub repositories, pull requests and issues into Lanterna with a personal access token."""

__version__ = "0.1.0"
