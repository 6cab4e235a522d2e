/**
 * Test support: one registry client, one server starter, one set of OCI content builders for the
 * tests, the conformance scenarios and the benchmarks. Import everything from here.
 */
export * from './certificates.js'
export * from './content.js'
export * from './http.js'
export * from './metrics-scrape.js'
export * from './reference.js'
export * from './registry-client.js'
export * from './store.js'
export * from './wait.js'
export * from './wharf.js'
export * from './tar-archive.js'
