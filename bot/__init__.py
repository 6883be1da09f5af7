"""Defender Experts for Teams: the customer-facing Teams bot of a managed detection and response service."""

__version__ = "0.1.0"
