"""``python -m repoclimate.app`` runs the ``repoclimate`` command."""

from repoclimate.app.cli import main

main()
