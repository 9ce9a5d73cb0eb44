"""Consent notices: what data subjects are asked to consent to, which the engine reads."""
