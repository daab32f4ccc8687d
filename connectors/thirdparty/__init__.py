"""The thirdparty connector."""
