"""Trained models as catalog assets: registration, history, deployments under the engine."""
