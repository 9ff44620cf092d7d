"""Server: the FastAPI app — JSON API, OpenAI-compatible routes, web pages — a thin shell over
`newsdesk.service.Newsdesk`."""
