"""The readiness assessment ("Service status"): protected assets, actions needed, service phase."""
