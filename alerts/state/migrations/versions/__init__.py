"""The revisions, oldest first by ``rev_id``; each names its ``down_revision``."""
