"""X API v2 access: the dataset format, the emulator and the tweepy-based client."""
