"""California ISO (CAISO): OASIS reports (SingleZip with CSV or XML inside)."""
