"""Runbook templates: each expands its parameters into steps and knows its planning axis."""
