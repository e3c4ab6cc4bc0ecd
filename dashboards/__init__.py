"""Grafana dashboards as code, their provisioning and upload, alert annotations."""
