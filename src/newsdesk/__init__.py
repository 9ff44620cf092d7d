"""newsdesk: cited answers from a folder of news articles."""
