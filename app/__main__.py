"""``python -m app`` runs the ``repoclimate`` command."""

from app.cli import main

main()
