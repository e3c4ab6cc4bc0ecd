"""Alembic migrations of the alert state, run by `repoclimate.alerts.state.database.open_state`
on every open; no ``alembic.ini`` is needed.

A schema change is a new file in ``versions/`` whose ``down_revision`` is the current head,
and the matching change to ``schema.py`` (the tables the queries use). Start one with::

    python3 -c "from alembic import command; \\
    from repoclimate.alerts.state.database import alembic_config; \\
    command.revision(alembic_config(), 'add users and api tokens', rev_id='0003')"

and write ``upgrade()``/``downgrade()`` with ``op`` by hand: revisions must not import
``schema.py``, which changes with later revisions.
"""
