"""Intermediate representations: pipelines (what the user wrote) and Petri nets (what sites run)."""
