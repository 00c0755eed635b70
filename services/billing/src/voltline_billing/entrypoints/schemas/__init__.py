"""Response models of the billing API: what each route returns, for OpenAPI and generated clients."""
