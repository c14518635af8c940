"""Reports: read-only queries for the dashboards and their Excel downloads."""
