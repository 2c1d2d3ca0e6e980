"""device_svc: charging stations, their boots, heartbeats and connector statuses."""
