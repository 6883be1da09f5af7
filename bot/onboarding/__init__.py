"""The Defender Experts setup guide and settings."""

from bot.onboarding.service import Actor, OnboardingService

__all__ = ["Actor", "OnboardingService"]
