// Package schema holds jitd's storage and wire schemas: the numbered SQL
// migrations (embedded here), the connector protocol and the OpenAPI document.
package schema

import "embed"

// Migrations holds sql/NNNN_name.sql files, applied in name order. A migration
// is never edited after it lands: add a new one.
//
//go:embed sql/*.sql
var Migrations embed.FS

// OpenAPI is the description of the daemon's HTTP API (openapi.yaml).
//
//go:embed openapi.yaml
var OpenAPI []byte
