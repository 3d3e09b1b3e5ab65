"""``python -m lanterna`` runs the CLI."""

from lanterna.launch import main

main()
