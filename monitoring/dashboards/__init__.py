"""The risk dashboards: figures built from rollups, for executives, officers and owners."""
