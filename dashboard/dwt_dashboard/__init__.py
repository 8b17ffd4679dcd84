"""Discover Weekly dashboard: a Dash app over the store (see ``dwt_dashboard.app``)."""
