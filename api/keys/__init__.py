"""API keys and users: GraphQL types, queries and mutations."""
