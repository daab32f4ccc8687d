"""The eex connector."""
