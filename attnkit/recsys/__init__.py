"""Recommender models, features and sequence building (DARE, APEM) arrive in later issues."""
