"""Condition history for people: per room, site and network, per month, quarter or year, as an
HTML page or a PDF a manager can print or send on.

Modules: ``periods`` (what ``2026-11``, ``2026-Q3`` and ``2026`` mean in a site's time zone),
``gather`` (a report's numbers: every one from `preservation.metrics` over the history store's
hourly rollups, the alert log from the alert state), ``ranking`` (rooms ordered by risk),
``charts`` (the charts as SVG, drawn in Python in the pages' visual language), ``render`` (one
HTML layout rendered to HTML or PDF, in English or Simplified Chinese), ``pdf`` (the PDF
engines: headless Chromium as a subprocess, or WeasyPrint; ``settings``: which, the service
settings' ``reports`` section) and ``schedule`` (the monthly e-mail to the rota's managers
through the alert outbox).
"""
