"""The Defender Experts setup guide and settings."""

from bot.onboarding.service import OnboardingService

__all__ = ["OnboardingService"]
