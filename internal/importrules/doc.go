// Package importrules holds, in its tests, the import rules of the module,
// checked with `go list` over every package on each `go test ./...`:
//
//   - a package under attribution/, or ingest, does not import a package
//     under projections/: ports speak their own types and the adapters
//     convert;
//   - reports does not depend, even indirectly, on kafka-go or on a package
//     under projections/: the read side does not pull in the writers;
//   - a package's name is its folder's (main packages excepted);
//   - the pure core (attribution, catalog, money, promocode) and the shop
//     platforms' adapters (connectors) do not depend on a Kafka, Redis or
//     ClickHouse client, nor on net/http.
//
// Only non-test imports count: a test may use the real adapters. A failure
// names the package, the import and, for an indirect dependency, the chain
// of imports that brings it in.
package importrules
