"""ISO New England: ISO Express web services (api/v1.1) JSON."""
