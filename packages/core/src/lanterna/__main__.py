"""``python -m lanterna`` runs the CLI."""

from lanterna.cli import main

main()
