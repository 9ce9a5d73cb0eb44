"""Terraform/OpenTofu plans checked before they are applied."""
