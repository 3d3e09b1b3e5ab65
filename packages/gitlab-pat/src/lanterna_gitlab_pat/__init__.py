"""Read GitLab projects, merge requests and issues into Lanterna with a personal access token."""

__version__ = "0.1.0"
