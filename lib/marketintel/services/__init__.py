"""The service layer: one function per use case and the read-side queries every front end shares."""
