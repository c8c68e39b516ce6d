"""hakeeper's services and its command line."""
