"""Defender Experts for Teams: the customer-facing Teams bot of an MDR service."""

__version__ = "0.1.0"
