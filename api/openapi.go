package api

import _ "embed"

//go:embed openapi.json
var openapiDoc []byte

// OpenAPI returns the OpenAPI 3.1 document of the HTTP API as served at
// /openapi.json. A test keeps it and the registered routes in step.
func OpenAPI() []byte { return openapiDoc }
