"""Whisper weights: where they come from, how they are verified, and their conversion."""
